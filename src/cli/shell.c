/* `dfs shell`: an interactive prompt ("user@dfs:/cwd> ") running every dfs command
 * without the `dfs` prefix, relative to a current remote directory (cd, pwd), with
 * line editing, history kept between sessions (shell_history.h) and Tab completion of
 * commands, remote paths and the local path of put/get (libedit).
 * Ctrl-C: on a half-typed line, a fresh prompt; during a command, that command stops
 * (each command runs in a child process, killed by the SIGINT as `dfs CMD` would be,
 * temp files cleaned up by its own handlers) and the prompt comes back.
 * From a non-terminal stdin it reads one command a line without a prompt (scripts), in
 * this process; errors name the script line; the exit status is the last command's
 * (like sh), or N of `exit N`. The session, connections and flags are the ones main.c
 * set up (cli_ctx). */
#include <dirent.h>
#include <errno.h>
#include <histedit.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wchar.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/ns_cmds.h"
#include "cli/output.h"
#include "cli/paths.h"
#include "cli/session.h"
#include "cli/shell_history.h"
#include "cli/shell_util.h"
#include "cli/suggest.h"
#include "common/array.h"
#include "common/errors.h"
#include "common/path.h"

#define SHELL_MAX_WORDS 256

typedef struct {
  cli_ctx *ctx;
  char cwd[DFS_PATH_MAX + 1];
  char prompt[DFS_PATH_MAX + 96];
  int last_rc;
  int fork_cmds;  /* interactive: each command in a child (Ctrl-C stops only it) */
  int interrupted; /* Ctrl-C was typed at the prompt */
} shell_state;

/* While a command runs the shell only waits for it: Ctrl-C or Ctrl-\ (SIGINT, SIGQUIT
 * to the terminal's foreground group) must stop the command, not the shell. */
static void on_sigint(int sig) { (void)sig; }

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
    fprintf(f, "usage: exit [N]\n\nLeaves the shell (Ctrl-D too) with status N (0..255), or with the\n"
               "last command's status.\nexample: exit 3\n");
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

/* The commands that change the session file: the shell reloads it after them (they ran
 * in a child process). */
static int changes_session(const char *c) {
  return !strcmp(c, "login") || !strcmp(c, "logout") || !strcmp(c, "passwd") ||
         !strcmp(c, "register");
}

/* Runs cmd in a child process so that Ctrl-C (SIGINT to the terminal's foreground
 * group: the shell ignores it, the child dies of it) stops only the command. The
 * connections are closed first: the child opens its own and the shell reconnects when
 * it next needs one (sharing a socket, TLS above all, would leave the shell's side out
 * of step). Returns the child's status (128 + N when killed by signal N). */
static int run_forked(shell_state *sh, const cli_command *cmd, int n, char **words) {
  cli_ctx *ctx = sh->ctx;
  meta_client_close(ctx->mc);
  meta_client_close(ctx->ac);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return cmd->run(ctx, n, words); /* no child: run it here */
  if (pid == 0) {
    signal(SIGINT, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    int rc = cmd->run(ctx, n, words);
    if (fflush(stdout) != 0 && rc == CLI_OK) rc = CLI_FAIL;
    fflush(stderr);
    _exit(rc);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (changes_session(cmd->name)) {
    char err[512];
    cli_session fresh;
    if (cli_session_load(getenv("DFS_TOKEN"), getenv("DFS_USER"), ctx->session_path, &fresh,
                         err, sizeof err) == 0) {
      *ctx->sess = fresh; /* the clients point at sess->token: updated in place */
      ctx->user_asked = 0;
    }
    memset(&fresh, 0, sizeof fresh);
  }
  if (WIFSIGNALED(st)) {
    if (WTERMSIG(st) == SIGINT) fputc('\n', stdout); /* after the terminal's "^C" */
    return 128 + WTERMSIG(st);
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : CLI_FAIL;
}

/* `exit [N]`: 1 (end the shell) with last_rc set, or 0 (stay) after a usage error. */
static int shell_exit(shell_state *sh, int n, char **words) {
  if (n > 2) {
    sh->last_rc = cli_usage_error("exit", "too many arguments (exit [N])");
    return 0;
  }
  uint64_t v;
  if (n == 2) {
    if (cli_parse_u64(words[1], 0, 255, &v) != 0) {
      /* like sh: a bad status still ends the shell, with 2 */
      cli_err("exit", "%s: not a status (exit [N], N in 0..255)", words[1]);
      sh->last_rc = CLI_USAGE;
    } else {
      sh->last_rc = (int)v;
    }
  }
  return 1;
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
  if (strcmp(c, "exit") == 0 || strcmp(c, "quit") == 0) return shell_exit(sh, n, words);
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
    const char *near = cmd ? NULL : cli_suggest_command(c);
    if (!cmd && near) {
      cli_err(NULL, "%s: unknown command: did you mean '%s'?", c, near);
      sh->last_rc = CLI_USAGE;
    } else if (!cmd) {
      cli_err(NULL, "%s: unknown command (type 'help' for the list)", c);
      sh->last_rc = CLI_USAGE;
    } else {
      int quiet = sh->ctx->quiet, saved_cli_quiet = cli_quiet;
      if (cli_take_quiet(&n, words)) sh->ctx->quiet = cli_quiet = 1; /* this command only */
      sh->last_rc = sh->fork_cmds ? run_forked(sh, cmd, n, words) : cmd->run(sh->ctx, n, words);
      sh->ctx->quiet = quiet;
      cli_quiet = saved_cli_quiet;
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
  char **v = dfs_grow(l->v, &l->cap, l->n + 1, sizeof *v, 32);
  if (!v) return;
  l->v = v;
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

static int cand_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Candidates for a partly typed LOCAL path (put's source, get's destination): the
 * entries of its directory ("~/" is $HOME) that start with its last part, dot files
 * only when that part starts with '.'. *base: where that last part starts in word. */
static void local_candidates(const char *word, cand_list *l, const char **base) {
  char dir[DFS_PATH_MAX + 1], bname[DFS_NAME_MAX + 1], path[DFS_PATH_MAX + 256];
  if (cli_split_partial(word, dir, sizeof dir, bname, sizeof bname)) return;
  *base = word + strlen(dir);
  const char *home = getenv("HOME");
  if (!dir[0]) snprintf(path, sizeof path, ".");
  else if (dir[0] == '~' && dir[1] == '/' && home) snprintf(path, sizeof path, "%s%s", home, dir + 1);
  else snprintf(path, sizeof path, "%s", dir);
  DIR *d = opendir(path);
  if (!d) return;
  size_t plen = strlen(path);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *nm = de->d_name;
    if (!strcmp(nm, ".") || !strcmp(nm, "..") || (nm[0] == '.' && bname[0] != '.')) continue;
    if (!cli_completion_match(nm, bname)) continue;
    char full[DFS_PATH_MAX + 512];
    struct stat st;
    snprintf(full, sizeof full, "%s%s%s", path, path[plen - 1] == '/' ? "" : "/", nm);
    cand_add(l, nm, stat(full, &st) == 0 && S_ISDIR(st.st_mode));
  }
  closedir(d);
  if (l->n > 1) qsort(l->v, l->n, sizeof *l->v, cand_cmp); /* readdir's order is none */
}

/* 1 if the word starting at start in li's buffer is a local path (cli_completion_is_local
 * of the words before it). */
static int word_is_local(const LineInfo *li, const char *start) {
  char before[1024];
  char *words[SHELL_MAX_WORDS + 1];
  size_t len = (size_t)(start - li->buffer);
  if (len >= sizeof before) return 0;
  memcpy(before, li->buffer, len);
  before[len] = '\0';
  int n = cli_split_words(before, words, SHELL_MAX_WORDS);
  return n > 0 && cli_completion_is_local(words, n);
}

/* Ctrl-C at the prompt. A key, not a signal: ISIG is off while editing (EL_SETTY), so
 * it cannot race with the line editor (a SIGINT between two reads would be lost). The
 * line is emptied and ended; the loop sees `interrupted` and shows a fresh prompt. */
static unsigned char shell_ctrl_c(EditLine *el, int ch) {
  (void)ch;
  shell_state *sh = NULL;
  el_get(el, EL_CLIENTDATA, &sh);
  const LineInfo *li = el_line(el);
  el_cursor(el, (int)(li->lastchar - li->cursor));
  li = el_line(el);
  el_deletestr(el, (int)(li->cursor - li->buffer));
  sh->interrupted = 1;
  return CC_NEWLINE;
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
  } else if (word_is_local(li, start)) {
    local_candidates(word, &l, &base);
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
  history(hist, &ev, H_SETSIZE, CLI_HISTORY_MAX);
  history(hist, &ev, H_SETUNIQUE, 1);
  char hpath[4096];
  int have_hpath = cli_history_path(getenv("XDG_CONFIG_HOME"), getenv("HOME"), hpath,
                                    sizeof hpath) == 0;
  if (have_hpath) cli_history_load(hist, hpath);
  struct sigaction sa, old_sa, old_quit;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_sa);
  sigaction(SIGQUIT, &sa, &old_quit);
  sh->fork_cmds = 1;
  el_set(el, EL_EDITOR, "emacs");
  el_set(el, EL_HIST, history, hist);
  el_set(el, EL_CLIENTDATA, sh);
  el_set(el, EL_PROMPT, shell_prompt);
  el_set(el, EL_SIGNAL, 1);
  /* The wide call keeps our (static) strings; el_set's narrow EL_ADDFN copies them with
   * wcsdup and el_end never frees the copies (a leak LeakSanitizer reports). */
  el_wset(el, EL_ADDFN, L"dfs-complete", L"complete a command or a remote or local path",
          shell_complete);
  el_set(el, EL_BIND, "^I", "dfs-complete", NULL);
  el_wset(el, EL_ADDFN, L"dfs-interrupt", L"drop the line, a fresh prompt", shell_ctrl_c);
  el_set(el, EL_BIND, "^C", "dfs-interrupt", NULL);
  el_set(el, EL_SETTY, "-d", "-isig", NULL); /* while editing (-d), ^C is a key (above) */
  for (;;) {
    int count = 0;
    /* Raw mode before the prompt is drawn: keys typed ahead (a Ctrl-D at once) would
     * otherwise be taken by the cooked tty (echoed twice; an EOF lost). */
    el_set(el, EL_PREP_TERM, 1);
    sh->interrupted = 0;
    const char *got = el_gets(el, &count);
    if (sh->interrupted) { /* Ctrl-C: drop the half-typed line, a fresh prompt below it */
      fputs("^C\n", stdout);
      fflush(stdout);
      continue;
    }
    if (!got || count <= 0) { fputc('\n', stdout); break; } /* Ctrl-D */
    char *line = strdup(got);
    if (!line) { cli_err("shell", "out of memory"); break; }
    line[strcspn(line, "\r\n")] = '\0'; /* the history file keeps the bare line */
    if (strspn(line, " \t") != strlen(line)) history(hist, &ev, H_ENTER, line);
    int done = shell_run_line(sh, line);
    free(line);
    if (done) break;
  }
  el_end(el);
  sigaction(SIGINT, &old_sa, NULL);
  sigaction(SIGQUIT, &old_quit, NULL);
  if (have_hpath) cli_history_save(hist, hpath);
  history_end(hist);
  return sh->last_rc;
}

static int shell_script(shell_state *sh) {
  char *line = NULL;
  size_t cap = 0;
  int done = 0;
  for (int no = 1; !done && getline(&line, &cap, stdin) >= 0; no++) {
    cli_err_line = no; /* "dfs: line 7: cd: ..." */
    done = shell_run_line(sh, line);
    cli_err_line = 0;
  }
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
