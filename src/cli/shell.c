/* `dfs shell`: an interactive prompt ("user@dfs:/cwd> ") running every dfs command
 * without the `dfs` prefix, relative to a current remote directory (cd, pwd), with
 * line editing, history and Tab completion of commands and remote paths (libedit).
 * From a non-terminal stdin it reads one command a line without a prompt (scripts).
 * The session, connections and flags are the ones main.c set up (cli_ctx). */
#include <errno.h>
#include <histedit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include "cli/commands.h"
#include "cli/ns_cmds.h"
#include "cli/output.h"
#include "cli/paths.h"
#include "cli/shell_util.h"
#include "common/errors.h"
#include "common/path.h"

#define SHELL_MAX_WORDS 256

typedef struct {
  cli_ctx *ctx;
  char cwd[DFS_PATH_MAX + 1];
  char prompt[DFS_PATH_MAX + 96];
  int last_rc;
} shell_state;

static const char *const builtins[] = {"cd", "pwd", "exit", "quit"};

static void shell_help(FILE *f, const char *cmd) {
  if (!cmd) {
    size_t n;
    const cli_command *t = cli_commands(&n);
    fprintf(f, "commands (relative paths start at the current directory):\n");
    for (size_t i = 0; i < n; i++)
      if (strcmp(t[i].name, "shell") != 0) fprintf(f, "  %-9s %s\n", t[i].name, t[i].summary);
    fprintf(f, "  %-9s %s\n  %-9s %s\n  %-9s %s\n", "cd", "change the current directory",
            "pwd", "print the current directory", "exit", "leave the shell (or Ctrl-D)");
    fprintf(f, "\n`help COMMAND` for details. Tab completes commands and paths.\n");
    return;
  }
  if (strcmp(cmd, "cd") == 0)
    fprintf(f, "usage: cd [DIR]\n\nMakes DIR (default: your home, or / when not logged in) the\n"
               "current directory; '..' goes up.\nexample: cd ~/photos    cd ..\n");
  else if (strcmp(cmd, "pwd") == 0)
    fprintf(f, "usage: pwd\n\nPrints the current directory.\nexample: pwd\n");
  else if (strcmp(cmd, "exit") == 0 || strcmp(cmd, "quit") == 0)
    fprintf(f, "usage: exit\n\nLeaves the shell (Ctrl-D too).\nexample: exit\n");
  else {
    const cli_command *c = cli_find_command(cmd);
    if (c) cli_print_command_help(f, c);
    else cli_err("help", "unknown command '%s' (type 'help' for the list)", cmd);
  }
}

static int shell_cd(shell_state *sh, int argc, char **argv) {
  cli_ctx *ctx = sh->ctx;
  if (argc > 2) return cli_usage_error("cd", "too many arguments (cd [DIR])");
  char path[DFS_PATH_MAX + 1];
  const char *arg = argc > 1 ? argv[1] : cli_user(ctx) ? "~" : "/";
  if (cli_remote_arg(ctx, "cd", arg, path)) return CLI_FAIL;
  Dfs__StatRep *st = NULL;
  if (cli_stat(ctx, "cd", path, 0, &st)) return CLI_FAIL;
  int dir = st->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
  dfs__stat_rep__free_unpacked(st, NULL);
  if (!dir) { cli_err("cd", "%s: not a directory", path); return CLI_FAIL; }
  snprintf(sh->cwd, sizeof sh->cwd, "%s", path);
  return CLI_OK;
}

/* Runs one line; returns 1 when the shell should end. */
static int shell_run_line(shell_state *sh, char *line) {
  char *words[SHELL_MAX_WORDS + 1];
  int n = cli_split_words(line, words, SHELL_MAX_WORDS);
  if (n < 0) {
    cli_err(NULL, "unterminated quote or too many words; nothing run");
    sh->last_rc = CLI_USAGE;
    return 0;
  }
  if (n == 0 || words[0][0] == '#') return 0;
  words[n] = NULL;
  const char *c = words[0];
  if (strcmp(c, "exit") == 0 || strcmp(c, "quit") == 0) return 1;
  if (strcmp(c, "pwd") == 0) { printf("%s\n", sh->cwd); sh->last_rc = CLI_OK; }
  else if (strcmp(c, "cd") == 0) sh->last_rc = shell_cd(sh, n, words);
  else if (strcmp(c, "help") == 0) {
    if (n > 2) sh->last_rc = cli_usage_error("help", "too many arguments");
    else { shell_help(stdout, n > 1 ? words[1] : NULL); sh->last_rc = CLI_OK; }
  } else if (strcmp(c, "shell") == 0) {
    cli_err("shell", "already in the shell");
    sh->last_rc = CLI_FAIL;
  } else {
    const cli_command *cmd = cli_find_command(c);
    if (!cmd) {
      cli_err(NULL, "%s: unknown command (type 'help' for the list)", c);
      sh->last_rc = CLI_USAGE;
    } else {
      sh->last_rc = cmd->run(sh->ctx, n, words);
    }
  }
  fflush(stdout);
  return 0;
}

/* ------------------------------------------------------------ completion (libedit) */

static char *shell_prompt(EditLine *el) {
  shell_state *sh = NULL;
  el_get(el, EL_CLIENTDATA, &sh);
  const char *u = cli_user(sh->ctx);
  snprintf(sh->prompt, sizeof sh->prompt, "%s@dfs:%s> ", u ? u : "anonymous", sh->cwd);
  return sh->prompt;
}

typedef struct {
  char **v;
  size_t n, cap;
} cand_list;

static void cand_add(cand_list *l, const char *s, int dir) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 32;
    char **v = realloc(l->v, cap * sizeof *v);
    if (!v) return;
    l->v = v;
    l->cap = cap;
  }
  size_t len = strlen(s);
  char *c = malloc(len + 2);
  if (!c) return;
  memcpy(c, s, len);
  c[len] = dir ? '/' : '\0';
  c[len + 1] = '\0';
  l->v[l->n++] = c;
}

static void cand_free(cand_list *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
}

static unsigned char shell_complete(EditLine *el, int ch) {
  (void)ch;
  shell_state *sh = NULL;
  el_get(el, EL_CLIENTDATA, &sh);
  const LineInfo *li = el_line(el);
  const char *start = li->cursor;
  while (start > li->buffer && start[-1] != ' ' && start[-1] != '\t') start--;
  size_t wlen = (size_t)(li->cursor - start);
  char word[DFS_PATH_MAX + 1];
  if (wlen >= sizeof word) return CC_ERROR;
  memcpy(word, start, wlen);
  word[wlen] = '\0';
  int first = 1;
  for (const char *p = li->buffer; p < start; p++)
    if (*p != ' ' && *p != '\t') { first = 0; break; }

  cand_list l = {NULL, 0, 0};
  const char *base = word;
  if (first) {
    size_t n;
    const cli_command *t = cli_commands(&n);
    for (size_t i = 0; i < n; i++)
      if (strcmp(t[i].name, "shell") && cli_completion_match(t[i].name, word)) cand_add(&l, t[i].name, 0);
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
      if (cli_completion_match(builtins[i], word)) cand_add(&l, builtins[i], 0);
  } else {
    char dir[DFS_PATH_MAX + 1], bname[DFS_NAME_MAX + 1], path[DFS_PATH_MAX + 1];
    if (cli_split_partial(word, dir, sizeof dir, bname, sizeof bname)) return CC_ERROR;
    base = word + strlen(dir);
    Dfs__ListRep *rep = NULL;
    if (cli_remote_arg(sh->ctx, "complete", dir[0] ? dir : ".", path) == 0 &&
        cli_list(sh->ctx, "complete", path, 1, &rep) == 0) {
      for (size_t i = 0; i < rep->n_entries; i++) {
        const Dfs__Entry *e = rep->entries[i];
        if (e->name && cli_completion_match(e->name, bname))
          cand_add(&l, e->name, e->type == DFS__ENTRY_TYPE__ENTRY_DIR);
      }
      dfs__list_rep__free_unpacked(rep, NULL);
    }
  }
  unsigned char ret = CC_REFRESH;
  size_t blen = strlen(base);
  if (l.n == 0) {
    ret = CC_REFRESH_BEEP;
  } else if (l.n == 1) {
    size_t len = strlen(l.v[0]);
    char add[DFS_NAME_MAX + 3];
    snprintf(add, sizeof add, "%s%s", l.v[0] + blen, l.v[0][len - 1] == '/' ? "" : " ");
    if (el_insertstr(el, add) != 0) ret = CC_ERROR;
  } else {
    char common[DFS_NAME_MAX + 2];
    size_t cl = cli_common_prefix((const char *const *)l.v, l.n, common, sizeof common);
    if (cl > blen) {
      if (el_insertstr(el, common + blen) != 0) ret = CC_ERROR;
    } else {
      fputc('\n', stdout);
      for (size_t i = 0; i < l.n; i++) fprintf(stdout, "%s%s", l.v[i], i + 1 < l.n ? "  " : "\n");
      fflush(stdout);
      ret = CC_REDISPLAY;
    }
  }
  cand_free(&l);
  return ret;
}

/* ------------------------------------------------------------ main loop */

static int shell_interactive(shell_state *sh) {
  EditLine *el = el_init("dfs", stdin, stdout, stderr);
  History *hist = history_init();
  if (!el || !hist) {
    cli_err("shell", "cannot start line editing (is $TERM set?)");
    if (el) el_end(el);
    if (hist) history_end(hist);
    return CLI_FAIL;
  }
  HistEvent ev;
  history(hist, &ev, H_SETSIZE, 1000);
  history(hist, &ev, H_SETUNIQUE, 1);
  el_set(el, EL_EDITOR, "emacs");
  el_set(el, EL_HIST, history, hist);
  el_set(el, EL_CLIENTDATA, sh);
  el_set(el, EL_PROMPT, shell_prompt);
  el_set(el, EL_SIGNAL, 1);
  /* The wide call keeps our (static) strings; el_set's narrow EL_ADDFN copies them with
   * wcsdup and el_end never frees the copies (a leak LeakSanitizer reports). */
  el_wset(el, EL_ADDFN, L"dfs-complete", L"complete a command or remote path", shell_complete);
  el_set(el, EL_BIND, "^I", "dfs-complete", NULL);
  for (;;) {
    int count = 0;
    /* Raw mode before the prompt is drawn: keys typed ahead (a Ctrl-D at once) would
     * otherwise be taken by the cooked tty (echoed twice; an EOF lost). */
    el_set(el, EL_PREP_TERM, 1);
    const char *got = el_gets(el, &count);
    if (!got || count <= 0) { fputc('\n', stdout); break; } /* Ctrl-D */
    char *line = strdup(got);
    if (!line) { cli_err("shell", "out of memory"); break; }
    if (strspn(line, " \t\r\n") != strlen(line)) history(hist, &ev, H_ENTER, got);
    int done = shell_run_line(sh, line);
    free(line);
    if (done) break;
  }
  el_end(el);
  history_end(hist);
  return sh->last_rc;
}

static int shell_script(shell_state *sh) {
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, stdin) >= 0)
    if (shell_run_line(sh, line)) break;
  free(line);
  return sh->last_rc;
}

int cli_cmd_shell(cli_ctx *ctx, int argc, char **argv) {
  if (argc > 1) {
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
      cli_print_command_help(stdout, cli_find_command("shell"));
      return CLI_OK;
    }
    return cli_usage_error("shell", "takes no arguments (pipe commands into stdin for scripts)");
  }
  shell_state *sh = calloc(1, sizeof *sh);
  if (!sh) { cli_err("shell", "out of memory"); return CLI_FAIL; }
  sh->ctx = ctx;
  const char *u = cli_user(ctx);
  /* Start at home when logged in and it exists, else at /. */
  Dfs__StatRep *st = NULL;
  if (!u || cli_home_dir(u, sh->cwd, sizeof sh->cwd) != 0 ||
      cli_stat(ctx, "shell", sh->cwd, 1, &st) != 0)
    snprintf(sh->cwd, sizeof sh->cwd, "/");
  if (st) dfs__stat_rep__free_unpacked(st, NULL);
  ctx->cwd = sh->cwd;
  int rc = isatty(STDIN_FILENO) ? shell_interactive(sh) : shell_script(sh);
  ctx->cwd = NULL;
  free(sh);
  return rc;
}
