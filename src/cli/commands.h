/* The command table of the dfs CLI: every command's name, usage line, help text with an
 * example, and handler. main.c parses the global options and dispatches through
 * cli_find_command; `dfs help [CMD]` and `dfs CMD --help` print from here. To add a
 * command: write its handler and add one row to the table in commands.c. */
#ifndef DFS_CLI_COMMANDS_H
#define DFS_CLI_COMMANDS_H

#include <stdio.h>

#include "cli/args.h"

#include "cli/meta_report.h"
#include "cli/session.h"

/* Copies of a new file when the user names none (put, touch). */
#define CLI_DEFAULT_REPLICAS 2

/* Exit codes. */
#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2
/* Not an exit code: what cli_command_args answers when the command should go on. */
#define CLI_CONTINUE 100

/* What every handler gets: the metad and authd connections (lazily connected; the
 * session token is put into every request), the session and the flags. */
typedef struct {
  meta_client *mc;          /* metad */
  meta_client *ac;          /* authd */
  cli_session *sess;        /* token "" = not logged in */
  const char *session_path; /* session file; NULL if neither $XDG_CONFIG_HOME nor $HOME */
  int quiet;
  int user_asked;           /* cli_user already asked authd whose token this is */
  const char *cwd;          /* dfs shell: the current remote directory (relative paths
                             * resolve against it); NULL outside the shell */
} cli_ctx;

/* The logged-in user (relative remote paths and "~" resolve against /home/<user>), or
 * NULL when not logged in. With $DFS_TOKEN but no $DFS_USER, asks authd once (whoami);
 * if that fails, prints a warning and returns NULL. */
const char *cli_user(cli_ctx *ctx);

/* The remote path argument as dfs should read it: in itself, or (logged in) "~..." in
 * buf when in is the shell's expansion of an unquoted ~ (cli_unexpand_home). */
const char *cli_remote_spelling(cli_ctx *ctx, const char *in, char *buf, size_t bufsz);

/* Resolves a remote path argument (cli_remote_spelling, then cli_remote_path) into out (DFS_PATH_MAX + 1
 * bytes). 0, or prints one error line for cmd and returns CLI_FAIL. */
int cli_remote_arg(cli_ctx *ctx, const char *cmd, const char *in, char *out);

/* argv[0] is the command name; argv[1..argc) its arguments. Returns an exit code. */
typedef int (*cli_handler)(cli_ctx *ctx, int argc, char **argv);

typedef struct {
  const char *name;
  const char *usage;    /* "put LOCAL [REMOTE] [--replicas N] ..." */
  const char *summary;  /* one line for `dfs help` */
  const char *help;     /* details and an example, printed after the usage */
  cli_handler run;
} cli_command;

/* NULL if there is no such command. Pointer into a static table. */
const cli_command *cli_find_command(const char *name);
/* A mistyped command's closest real name ("lss" -> "ls"), or NULL; and the dfs command for
 * an `hdfs dfs -NAME` habit ("-copyFromLocal" -> "put"), or NULL (suggest.c's rules
 * over this table). Pointers into the table. */
const char *cli_suggest_command(const char *word);
const char *cli_hdfs_command(const char *flag);
/* The whole table (n entries). */
const cli_command *cli_commands(size_t *n);

/* Prints the global usage and the command list. */
void cli_print_global_usage(FILE *f);
/* Prints a command's usage line, help and example. */
void cli_print_command_help(FILE *f, const cli_command *c);
/* Prints "usage: dfs <usage>" plus a hint to stderr and returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* -q/--quiet given after the command (`dfs put -q a b`, as before it): removes them from
 * argv[1..*argc) (up to a "--") and returns 1 if there was one. */
int cli_take_quiet(int *argc, char **argv);
/* A mistake outside any command (unknown command or global option): prints the one line
 * "dfs: <msg>" (which names the fix) to stderr, no usage dump, and returns CLI_USAGE. */
int cli_mistake(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The one way a command parses its arguments (argv[0] is its name; see cli/args.h for
 * the syntax): --help prints the command's help (returns CLI_OK), a bad option or fewer
 * than minpos positionals print a usage error (CLI_USAGE; `missing` names what is
 * missing, NULL: "argument(s)"). Otherwise CLI_CONTINUE, with v[] and pos[0..*npos)
 * filled (pos holds at most maxpos). */
int cli_command_args(const char *cmd, int argc, char **argv, const cli_opt_spec *specs,
                     size_t nspecs, cli_opt_val *v, const char **pos, size_t maxpos,
                     size_t *npos, size_t minpos, const char *missing);

/* Handlers, a file per concept: read_cmds.c (reading the namespace), mutate_cmds.c
 * (changing it), put.c/get.c (transfers), auth_cmds.c (accounts), admin.c and quota.c
 * (administration). */
int cli_cmd_put(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_get(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_ls(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_stat(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_mkdir(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_rm(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_chmod(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_admin(cli_ctx *ctx, int argc, char **argv);
/* auth_cmds.c: sessions and accounts (talk to authd). */
int cli_cmd_register(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_login(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_logout(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_whoami(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_passwd(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_keys(cli_ctx *ctx, int argc, char **argv); /* keys_cmds.c: S3 access keys */
int cli_cmd_help(cli_ctx *ctx, int argc, char **argv);
/* ns_cmds.c: the rest of the namespace (metadata-only requests to metad). */
int cli_cmd_rmdir(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_touch(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_ln(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_cat(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_mv(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_cp(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_setrep(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_tree(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_info(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_search(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_trash(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_quota(cli_ctx *ctx, int argc, char **argv); /* quota.c */
/* shell.c: the interactive shell (libedit); also reads commands from a non-terminal. */
int cli_cmd_shell(cli_ctx *ctx, int argc, char **argv);
/* mount_cmds.c: dfs mount / umount (src/mount). */
int cli_cmd_mount(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_umount(cli_ctx *ctx, int argc, char **argv);

#endif
