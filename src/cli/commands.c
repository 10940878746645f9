/* The dfs command table and help output (see commands.h). */
#include "cli/commands.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "auth.pb-c.h"
#include "cli/output.h"
#include "cli/paths.h"
#include "common/errors.h"
#include "common/path.h"

static const cli_command commands[] = {
    {"put", "put LOCAL [REMOTE] [--replicas N] [--no-clobber] [--parallel K] [--mode MODE]",
     "upload a local file",
     "Uploads LOCAL (any size, streamed in 1 MiB chunks). REMOTE defaults to ~/NAME when\n"
     "logged in (/NAME otherwise); an existing directory or a path ending in '/' receives\n"
     "REMOTE/NAME. An existing file is replaced atomically unless --no-clobber.\n"
     "--replicas N copies (default 2), --parallel K chunks in flight (default 4), --mode\n"
     "the permission bits (octal, or symbolic from 0644; default: 0644 for a new file,\n"
     "the old file's bits for a replaced one).\n"
     "example: dfs put ./photo.jpg photos/ --mode 600    (-> ~/photos/photo.jpg)",
     cli_cmd_put},
    {"get", "get REMOTE [LOCAL] [--parallel K]", "download a file",
     "Downloads REMOTE to LOCAL (default ./NAME; an existing directory receives DIR/NAME;\n"
     "'-' writes to stdout). Every chunk's CRC32C is verified; a bad replica is skipped\n"
     "and reported. The file appears only when complete (written to a temporary name).\n"
     "example: dfs get photos/photo.jpg /tmp/",
     cli_cmd_get},
    {"ls", "ls [-l] [-h] [-R] [PATH]", "list a directory",
     "Lists PATH (default: your home directory when logged in, else /), one name a line,\n"
     "directories with a trailing '/'. -l: mode, owner, size in bytes (number of entries\n"
     "for directories), replicas, mtime, name; -h: human sizes with -l; -R: every\n"
     "directory below too, each under a 'PATH:' header. A file argument shows that file.\n"
     "example: dfs ls -lR '~bob/shared'",
     cli_cmd_ls},
    {"stat", "stat PATH", "show a file or directory",
     "Prints type, size, mode, owner, mtime, replicas and chunks of PATH.\n"
     "example: dfs stat photos/photo.jpg",
     cli_cmd_stat},
    {"mkdir", "mkdir [-p] [-m MODE] PATH", "make a directory",
     "Makes the directory PATH; -p makes missing parents and accepts an existing one.\n"
     "-m/--mode: its permission bits (octal or symbolic from 0755; default 0755).\n"
     "example: dfs mkdir -p data/2026/11",
     cli_cmd_mkdir},
    {"rm", "rm [-r] PATH", "remove a file or directory",
     "Removes the file PATH, or an empty directory; -r removes a directory and\n"
     "everything in it.\n"
     "example: dfs rm -r old",
     cli_cmd_rm},
    {"chmod", "chmod MODE PATH...", "change permission bits",
     "Sets the permission bits of each PATH (owner or admin only). MODE is octal (750,\n"
     "0640) or symbolic like chmod(1): [ugoa][+-=][rwxX], comma-separated (u+x,go-w).\n"
     "r lets others read a file or list a directory, w lets them change a directory's\n"
     "entries, x lets them pass through a directory.\n"
     "example: dfs chmod 750 project    dfs chmod go+r ~/shared/notes.txt",
     cli_cmd_chmod},
    {"register", "register [USER] [--password-stdin]", "create an account",
     "Creates the account USER (default $USER) on authd. Names: 1-32 of a-z 0-9 _ -,\n"
     "starting with a letter; passwords: 8 to 72 bytes, asked twice on the terminal\n"
     "(--password-stdin: one line from stdin; or $DFS_PASSWORD). Then run 'dfs login'.\n"
     "example: dfs register alice",
     cli_cmd_register},
    {"login", "login [USER] [--password-stdin]", "start a session",
     "Logs USER (default $USER) in and stores the session token in\n"
     "$XDG_CONFIG_HOME/dfs/session (~/.config/dfs/session, mode 0600). The password is\n"
     "read from the terminal without echo (--password-stdin: one line from stdin; or\n"
     "$DFS_PASSWORD). $DFS_TOKEN (and $DFS_USER) override the stored session.\n"
     "example: dfs login alice    (scripts: dfs login alice --password-stdin <pwfile)",
     cli_cmd_login},
    {"logout", "logout", "end the session",
     "Ends the session on authd and deletes the stored token.\n"
     "example: dfs logout",
     cli_cmd_logout},
    {"whoami", "whoami", "show the logged-in user",
     "Asks authd who the session belongs to: user name, administrator or not, and when\n"
     "the session expires. Exit 1 when not logged in.\n"
     "example: dfs whoami",
     cli_cmd_whoami},
    {"passwd", "passwd [--password-stdin]", "change your password",
     "Changes your password: asks for the old one, then the new one twice. This ends\n"
     "every session of yours; dfs logs you in again with the new password.\n"
     "--password-stdin: two lines from stdin (old, new); or $DFS_PASSWORD (old) and\n"
     "$DFS_NEW_PASSWORD (new).\n"
     "example: dfs passwd",
     cli_cmd_passwd},
    {"admin",
     "admin status [--wait N] [--timeout SECONDS] | admin users [disable|enable|delete NAME]",
     "cluster status and user management",
     "status: one line per chunkserver (id, address, alive/dead, free/capacity, chunks,\n"
     "load, last heartbeat) and totals. --wait N: wait (polling every 100 ms) until at\n"
     "least N chunkservers are alive; exit 1 after --timeout seconds (default 30).\n"
     "users (administrators only): list the accounts (name, admin, disabled, created);\n"
     "users disable|enable NAME: lock or unlock an account (disabling ends its sessions);\n"
     "users delete NAME: delete the account and end its sessions.\n"
     "example: dfs admin status --wait 3 --timeout 10    dfs admin users disable mallory",
     cli_cmd_admin},
    {"help", "help [COMMAND]", "show help",
     "Shows the list of commands, or the usage and an example of one command.\n"
     "example: dfs help put",
     cli_cmd_help},
};

const cli_command *cli_commands(size_t *n) {
  *n = sizeof commands / sizeof commands[0];
  return commands;
}

const cli_command *cli_find_command(const char *name) {
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(commands[i].name, name) == 0) return &commands[i];
  return NULL;
}

void cli_print_global_usage(FILE *f) {
  fprintf(f,
          "usage: dfs [--meta HOST:PORT] [--auth HOST:PORT] [--tls-ca FILE] [-q|--quiet]\n"
          "           [--help] COMMAND [ARGS]\n"
          "\n"
          "metad address: --meta, else $DFS_META, else `meta:` in\n"
          "$XDG_CONFIG_HOME/dfs/dfs.yaml (~/.config/dfs/dfs.yaml), else 127.0.0.1:9400.\n"
          "authd address: --auth, else $DFS_AUTH, else `auth:`, else 127.0.0.1:9500.\n"
          "TLS: --tls-ca FILE or $DFS_TLS_CA (turns TLS on), else `tls.enabled`/`tls.ca`.\n"
          "Remote paths: ~ is /home/<you> (also when the shell has expanded an unquoted ~\n"
          "to your local $HOME), ~bob is /home/bob; when logged in, relative paths are\n"
          "relative to your home directory (else to /).\n"
          "\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\n`dfs help COMMAND` or `dfs COMMAND --help` for details.\n");
}

void cli_print_command_help(FILE *f, const cli_command *c) {
  fprintf(f, "usage: dfs %s\n\n%s\n", c->usage, c->help);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const cli_command *c = cmd ? cli_find_command(cmd) : NULL;
  fprintf(stderr, "dfs: %s%s%s\n", cmd ? cmd : "", cmd ? ": " : "", msg);
  if (c) fprintf(stderr, "usage: dfs %s\n(see `dfs help %s`)\n", c->usage, c->name);
  else cli_print_global_usage(stderr);
  return CLI_USAGE;
}

int cli_cmd_help(cli_ctx *ctx, int argc, char **argv) {
  (void)ctx;
  if (argc < 2) { cli_print_global_usage(stdout); return CLI_OK; }
  if (argc > 2) return cli_usage_error("help", "too many arguments");
  const cli_command *c = cli_find_command(argv[1]);
  if (!c) return cli_usage_error("help", "unknown command '%s'", argv[1]);
  cli_print_command_help(stdout, c);
  return CLI_OK;
}

const char *cli_user(cli_ctx *ctx) {
  cli_session *s = ctx->sess;
  if (!s || !s->token[0]) return NULL;
  if (!s->user[0] && !ctx->user_asked) {
    ctx->user_asked = 1;
    Dfs__AuthWhoamiReq req = DFS__AUTH_WHOAMI_REQ__INIT;
    ProtobufCMessage *m = NULL;
    char err[512];
    int rc = meta_call(ctx->ac, DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_WHOAMI, &req.base,
                       &dfs__auth_whoami_rep__descriptor, &m, err, sizeof err);
    const Dfs__AuthWhoamiRep *rep = (const Dfs__AuthWhoamiRep *)m;
    if (rc == 0 && rep->user && rep->user->username &&
        cli_user_name_valid(rep->user->username, strlen(rep->user->username)))
      snprintf(s->user, sizeof s->user, "%s", rep->user->username);
    else if (rc != DFS_EAUTH) /* a dead token: metad says so in the command's own words */
      cli_err(NULL, "warning: cannot tell whose $DFS_TOKEN this is (%s); set $DFS_USER. "
                    "Relative paths resolve against /", rc ? err : "no user in the reply");
    if (m) protobuf_c_message_free_unpacked(m, NULL);
  }
  return s->user[0] ? s->user : NULL;
}

const char *cli_remote_spelling(cli_ctx *ctx, const char *in, char *buf, size_t bufsz) {
  /* An unquoted ~ that the shell turned into the local $HOME means the dfs home. */
  if (cli_user(ctx) && cli_unexpand_home(in, getenv("HOME"), buf, bufsz) == 1) return buf;
  return in;
}

int cli_remote_arg(cli_ctx *ctx, const char *cmd, const char *in, char *out) {
  char unexp[DFS_PATH_MAX + 2];
  in = cli_remote_spelling(ctx, in, unexp, sizeof unexp);
  int rc = cli_remote_path(cli_user(ctx), in, out, DFS_PATH_MAX + 1);
  if (rc == 0) return 0;
  if (rc == DFS_EAUTH)
    cli_err(cmd, "%s: '~' is your home directory, but you are not logged in (run 'dfs login')", in);
  else if (rc == DFS_EINVAL)
    cli_err(cmd, "%s: invalid user name after '~'", in);
  else
    cli_err(cmd, "%s: invalid path (%s)", in, dfs_strerror(rc));
  return CLI_FAIL;
}
