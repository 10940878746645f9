/* The dfs command table and help output (see commands.h). */
#include "cli/commands.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "auth.pb-c.h"
#include "cli/output.h"
#include "cli/paths.h"
#include "cli/shell_util.h"
#include "cli/suggest.h"
#include "common/errors.h"
#include "common/path.h"

static const cli_command commands[] = {
    {"put", "put [-r] LOCAL... [REMOTE] [--replicas N] [--no-clobber] [--parallel K] [--mode MODE]",
     "upload local files",
     "Uploads LOCAL (any size, streamed in 1 MiB chunks). REMOTE defaults to ~/NAME when\n"
     "logged in (/NAME otherwise); an existing directory or a path ending in '/' receives\n"
     "REMOTE/NAME. An existing file is replaced atomically unless --no-clobber.\n"
     "Several LOCALs go into the existing directory REMOTE, in one process. -r uploads\n"
     "directories and everything in them, like cp -r: when REMOTE exists, LOCALDIR goes\n"
     "to REMOTE/LOCALDIR; when it does not, REMOTE is created as the copy of LOCALDIR.\n"
     "A directory without -r is refused.\n"
     "Each file is committed on its own: a failing file is named, the others still land,\n"
     "and the exit status is 1.\n"
     "LOCAL '-' reads standard input up to its end (a pipe: any size, stored as it comes,\n"
     "committed at the end; REMOTE is required, a directory receives REMOTE/stdin).\n"
     "--replicas N copies (default 2; with fewer live chunkservers the file starts with\n"
     "fewer and a warning says so), --parallel K chunks (one file) or files (several)\n"
     "in flight (default 16, several 32), --mode the permission bits (octal, or symbolic\n"
     "from 0644; default: 0644 for a new file, the old file's bits for a replaced one).\n"
     "example: dfs put ./photo.jpg photos/ --mode 600    (-> ~/photos/photo.jpg)\n"
     "example: dfs put -r ./album photos/   (photos exists: -> ~/photos/album/...;\n"
     "                                        else ~/photos is the copy: ~/photos/...)\n"
     "example: tar c ./src | dfs put - backups/src.tar",
     cli_cmd_put},
    {"get", "get [-r] [-f] REMOTE... [LOCAL] [--parallel K]", "download files",
     "Downloads REMOTE to LOCAL (default ./NAME; an existing directory receives DIR/NAME;\n"
     "'-' writes one file, named literally, to stdout). Every chunk's CRC32C is verified;\n"
     "a bad replica is skipped and reported. The file appears only when complete: it is\n"
     "written to a temporary name in the same directory and renamed. An existing local\n"
     "file is not replaced (like hdfs dfs -get: it may be your only copy) unless\n"
     "-f/--force is given, and then only by a complete download, never truncated first.\n"
     "REMOTE may be a quoted pattern ('photos/*.jpg': * ? [..] in any component, dot\n"
     "files only with an explicit '.', \\* for a literal *); no match is an error.\n"
     "Several REMOTEs go into the existing local directory LOCAL, in one process. -r\n"
     "downloads directories and everything in them, like cp -r: when LOCAL exists,\n"
     "REMOTEDIR goes to LOCAL/REMOTEDIR; when it does not, LOCAL is created as the copy.\n"
     "A directory without -r is refused.\n"
     "A failing file is named, the others still land, and the exit status is 1.\n"
     "--parallel K chunks (one file) or files (several) in flight (default 16).\n"
     "example: dfs get photos/photo.jpg /tmp/     dfs get 'photos/*.jpg' /tmp/\n"
     "example: dfs get -r photos/album /tmp/   (-> /tmp/album/...; /tmp/new: the copy)",
     cli_cmd_get},
    {"ls", "ls [-l] [-h] [-R] [--json] [PATH...]", "list a directory",
     "Lists PATH (default: your home directory when logged in, else /), one name a line,\n"
     "directories with a trailing '/'. PATH may be a quoted pattern ('logs/2026-*'); with\n"
     "several PATHs the files come first, then each directory under a 'PATH:' header.\n"
     "-l: mode, owner, size in bytes (number of entries for directories), replicas,\n"
     "mtime, name; -h: human sizes with -l; -R: every directory below too, each under a\n"
     "'PATH:' header. A file argument shows that file.\n"
     "Sizes are human on a terminal with -l. --json: one JSON document ({\"path\",\n"
     "\"entries\": [...]}; with -R or several PATHs, {\"dirs\": [...]}).\n"
     "example: dfs ls -lR '~bob/shared'    dfs ls 'photos/*.jpg'",
     cli_cmd_ls},
    {"stat", "stat [--json] PATH", "show a file or directory",
     "Prints type, size, mode, owner, mtime, replicas and chunks of PATH (--json: one\n"
     "JSON object). 'dfs info' also shows every chunk.\n"
     "example: dfs stat photos/photo.jpg",
     cli_cmd_stat},
    {"mkdir", "mkdir [-p] [-m MODE] PATH", "make a directory",
     "Makes the directory PATH; -p makes missing parents and accepts an existing one.\n"
     "-m/--mode: its permission bits (octal or symbolic from 0755; default 0755).\n"
     "example: dfs mkdir -p data/2026/11",
     cli_cmd_mkdir},
    {"rm", "rm [-r] [--skip-trash] PATH...", "remove files or directories (to the trash)",
     "Moves each PATH (a file, or an empty directory; -r: a directory and everything in\n"
     "it) into your trash, where it stays for metad's trash time (default 24 h): see\n"
     "'dfs trash'. --skip-trash deletes at once; the space is reclaimed right away.\n"
     "PATH may be a quoted pattern (* ? [..] in any component, \\* for a literal *): every\n"
     "pattern is expanded first, and one that matches nothing stops rm with nothing done.\n"
     "example: dfs rm -r old    dfs rm --skip-trash big.iso    dfs rm '/logs/2026-*'",
     cli_cmd_rm},
    {"rmdir", "rmdir PATH...", "remove empty directories",
     "Removes each PATH, which must be an empty directory.\n"
     "example: dfs rmdir data/2026/11",
     cli_cmd_rmdir},
    {"touch", "touch [--replicas N] PATH...", "create empty files",
     "Creates each PATH as an empty file (mode 0644, --replicas N copies once written,\n"
     "default 2 like put), or sets the modification time of an existing one to now.\n"
     "example: dfs touch notes.txt",
     cli_cmd_touch},
    {"ln", "ln -s TARGET PATH", "make a symbolic link",
     "Makes PATH a symbolic link holding TARGET (1..4095 bytes, kept as typed: dfs never\n"
     "follows it; 'dfs mount' clients do). Needs write permission on PATH's directory;\n"
     "an existing PATH is refused. ls -l shows it as 'l ... PATH -> TARGET'; rm, mv, cp\n"
     "act on the link itself.\n"
     "example: dfs ln -s ../data/current latest",
     cli_cmd_ln},
    {"cat", "cat PATH...", "print files",
     "Writes the content of each file to stdout, verifying every chunk's checksum.\n"
     "example: dfs cat notes.txt | less",
     cli_cmd_cat},
    {"mv", "mv [-n] SRC... DST", "move or rename",
     "Renames SRC to DST atomically, also across directories. An existing directory DST\n"
     "(or DST ending in '/') receives DST/NAME. An existing file DST is replaced\n"
     "atomically unless -n/--no-clobber. A directory cannot move into itself, nor a\n"
     "file onto itself. SRC may be a quoted pattern ('*.log', \\* for a literal *; no\n"
     "match: nothing moves); several SRCs go into the existing directory DST.\n"
     "example: dfs mv report.txt archive/    dfs mv -n a.txt b.txt    dfs mv '*.log' old/",
     cli_cmd_mv},
    {"cp", "cp [-r] [-n] SRC... DST", "copy (metadata only, chunks shared)",
     "Copies SRC to DST (-r: a directory and everything in it). Only metadata is\n"
     "copied: both copies share the immutable chunks, and changing one later never\n"
     "changes the other. An existing directory DST receives DST/NAME; an existing file\n"
     "is replaced unless -n/--no-clobber; a file is never copied onto itself. SRC may be\n"
     "a quoted pattern ('*.jpg', \\* for a literal *; no match: nothing is copied);\n"
     "several SRCs go into the existing directory DST.\n"
     "example: dfs cp -r project project.bak    dfs cp 'photos/*.jpg' backup/",
     cli_cmd_cp},
    {"setrep", "setrep [-R] PATH N", "change the replication goal",
     "Sets the replication goal of the file PATH (-R: of every file below the\n"
     "directory PATH) to N copies; the cluster adds or drops replicas in the background\n"
     "(watch with 'dfs info PATH' or 'dfs admin fsck').\n"
     "example: dfs setrep -R important 3",
     cli_cmd_setrep},
    {"tree", "tree [PATH]", "draw a directory tree",
     "Draws PATH (default: home, or the shell's current directory) and everything below\n"
     "it, with box characters, then counts directories and files.\n"
     "example: dfs tree ~/project",
     cli_cmd_tree},
    {"info", "info [--json] PATH", "file details down to every chunk",
     "Size, owner, mode, mtime, replication goal, and per chunk: index, id, version,\n"
     "size, CRC32C, live replicas / goal, and the chunkservers holding it.\n"
     "--json: one JSON object (chunks in \"chunks_detail\").\n"
     "example: dfs info --json big.iso | jq '.chunks_detail[0]'",
     cli_cmd_info},
    {"search", "search PATTERN [PATH] [--glob] [--owner U] [--min-size S] [--max-size S] "
               "[--newer T] [--older T] [--type f|d] [--limit N] [-l] [--json]",
     "find files by name",
     "Finds entries below PATH (default /, or the shell's cwd) whose name contains\n"
     "PATTERN (--glob: matches the glob, * ? [..]), using metad's name index. Filters:\n"
     "--owner, --min-size/--max-size (4096, 10K, 1.5M, 2G), --newer/--older (30m, 2h,\n"
     "7d ago; 2026-11-22[T10:00]; @EPOCH), --type f|d. At most --limit results\n"
     "(default 100). Only what you may see is listed. -l: long lines; --json: one object.\n"
     "example: dfs search report /projects --type f --newer 7d",
     cli_cmd_search},
    {"trash", "trash ls [--json] | trash restore ID [PATH] | trash empty [ID]",
     "list, restore or empty your trash",
     "ls: what 'dfs rm' moved to your trash (ID, deleted, expires, size, path).\n"
     "restore ID [PATH]: puts item ID back at its old path (or at PATH).\n"
     "empty [ID]: deletes item ID (or everything) for good and reclaims the space.\n"
     "example: dfs trash restore 12    dfs trash restore 12 ~/recovered.txt",
     cli_cmd_trash},
    {"quota", "quota [USER] [--json] | quota set USER [--bytes SIZE] [--files N]",
     "show or set a user's quota",
     "Shows what a user's files and directories take (bytes, entries; the trash counts)\n"
     "and the user's limits: your own, or any user's for an administrator. 'quota set'\n"
     "(administrators): limit USER to SIZE bytes (10G, 500M) and/or N files and\n"
     "directories; 0 = no limit, a limit not given stays as it was. A put, cp, mkdir or\n"
     "touch that would pass a limit fails and says so.\n"
     "example: dfs quota    dfs quota set alice --bytes 50G --files 100000",
     cli_cmd_quota},
    {"shell", "shell", "interactive shell",
     "A prompt (user@dfs:/cwd>) where every command works without 'dfs', relative to\n"
     "the current directory; cd [DIR] (default home), pwd, help [CMD], exit or Ctrl-D.\n"
     "Line editing, history (up arrow) and Tab completion of commands and remote\n"
     "paths. Also reads commands from a non-terminal stdin, one per line (scripts).\n"
     "example: dfs shell    (echo 'mkdir x'; echo 'ls') | dfs shell",
     cli_cmd_shell},
    {"mount", "mount MOUNTPOINT [-o OPT,...] [--foreground] [--log FILE]",
     "mount the cluster as a file system (FUSE)",
     "Mounts the whole dfs namespace at the local directory MOUNTPOINT as the logged-in\n"
     "user: every program can then read and write it. Returns once the mount is ready;\n"
     "it is served in the background until 'dfs umount'. Options (-o, comma separated):\n"
     "attr_timeout=S, entry_timeout=S (kernel caches, default 1 s), cache_mb=N (chunk\n"
     "cache, 256), writeback_mb=N (unflushed writes, 64), readahead=N (chunks, 4),\n"
     "watch_ms=N (change feed poll, 500; 0 = off), replicas=N (new files, 2), trash\n"
     "(rm moves into the dfs trash), timeout=S (a silent metad: EIO after 2 x S, 10),\n"
     "allow_other. docs/mount.md has the details.\n"
     "example: dfs mount ~/dfs    (after mkdir -p ~/dfs; then ls ~/dfs/home)",
     cli_cmd_mount},
    {"umount", "umount MOUNTPOINT", "unmount a dfs mount",
     "Unmounts MOUNTPOINT (files still open there are detached: the mount goes away\n"
     "once they are closed). Written files were committed at their close.\n"
     "example: dfs umount ~/dfs",
     cli_cmd_umount},
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
    {"keys", "keys create|ls|rm [KEYID] [--user U] [--json]", "S3 access keys",
     "Access keys for the S3 gateway, at most 16 per user. create: a new key; its id and\n"
     "secret are printed once (the secret is never shown again: keep it safe). ls: the\n"
     "ids and creation times (never secrets). rm KEYID: delete a key; the gateway's\n"
     "sessions of it end at once. --user U: an administrator manages U's keys. --json:\n"
     "machine-readable output. Use the pair with aws (aws configure, --endpoint-url) or\n"
     "s3cmd against the gateway's address.\n"
     "example: dfs keys create    dfs keys ls --json    dfs keys rm DK3Q7XKJ2M9PLW8R4TNA",
     cli_cmd_keys},
    {"admin",
     "admin status [--wait N] [--timeout SECONDS] | admin users [disable|enable|delete NAME]",
     "cluster status and user management",
     "status: one line per chunkserver (id, address, alive/dead, free/capacity, chunks,\n"
     "load, last heartbeat) and totals. --wait N: wait (polling every 100 ms) until at\n"
     "least N chunkservers are alive; exit 1 after --timeout seconds (default 30).\n"
     "users (administrators only): list the accounts (name, admin, disabled, created);\n"
     "users disable|enable NAME: lock or unlock an account (disabling ends its sessions\n"
     "at once, in authd and in metad's token cache);\n"
     "users delete NAME: delete the account and end its sessions.\n"
     "fsck [PATH] [--json] [--unhealthy]: per-file replication health (exit 1 if unreadable); status --json too.\n"
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

/* The table's names, for suggest.c (which knows no table). */
static size_t command_names(const char **out, size_t max) {
  size_t n = 0;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0] && n < max; i++)
    out[n++] = commands[i].name;
  return n;
}

const char *cli_suggest_command(const char *word) {
  const char *names[sizeof commands / sizeof commands[0]];
  return cli_suggest_name(word, names, command_names(names, sizeof names / sizeof names[0]));
}

const char *cli_hdfs_command(const char *flag) {
  const char *names[sizeof commands / sizeof commands[0]];
  return cli_hdfs_name(flag, names, command_names(names, sizeof names / sizeof names[0]));
}

void cli_print_global_usage(FILE *f) {
  fprintf(f,
          "usage: dfs [--meta HOST:PORT] [--auth HOST:PORT] [--tls-ca FILE] [-q|--quiet]\n"
          "           [--color=auto|never|always] [--help] COMMAND [ARGS]\n"
          "\n"
          "metad address: --meta, else $DFS_META, else `meta:` in\n"
          "$XDG_CONFIG_HOME/dfs/dfs.yaml (~/.config/dfs/dfs.yaml), else 127.0.0.1:9400;\n"
          "several metad voters as HOST:PORT,HOST:PORT,... (an unreachable one is skipped).\n"
          "authd address: --auth, else $DFS_AUTH, else `auth:`, else 127.0.0.1:9500.\n"
          "TLS: --tls-ca FILE or $DFS_TLS_CA (turns TLS on), else `tls.enabled`/`tls.ca`.\n"
          "Remote paths: ~ is /home/<you> (also when the shell has expanded an unquoted ~\n"
          "to your local $HOME), ~bob is /home/bob; when logged in, relative paths are\n"
          "relative to your home directory (else to /).\n"
          "Colour (ls, tree, admin status) and transfer progress (on stderr) only on a\n"
          "terminal; $NO_COLOR or --color=never turns colour off, -q the progress line.\n"
          "\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\n`dfs help COMMAND` or `dfs COMMAND --help` for details.\n");
}

void cli_print_command_help(FILE *f, const cli_command *c) {
  fprintf(f, "usage: dfs %s\n\n%s\n", c->usage, c->help);
}

int cli_command_args(const char *cmd, int argc, char **argv, const cli_opt_spec *specs,
                     size_t nspecs, cli_opt_val *v, const char **pos, size_t maxpos,
                     size_t *npos, size_t minpos, const char *missing) {
  char err[512];
  int rc = cli_parse_args(argc - 1, argv + 1, specs, nspecs, v, pos, maxpos, npos, err,
                          sizeof err);
  if (rc == CLI_ARGS_HELP) {
    cli_print_command_help(stdout, cli_find_command(cmd));
    return CLI_OK;
  }
  if (rc) return cli_usage_error(cmd, "%s", err);
  if (*npos < minpos)
    return missing ? cli_usage_error(cmd, "missing %s", missing)
                   : cli_usage_error(cmd, "missing argument%s", minpos > 1 ? "s" : "");
  return CLI_CONTINUE;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const cli_command *c = cmd ? cli_find_command(cmd) : NULL;
  char where[32] = "";
  if (cli_err_line > 0) snprintf(where, sizeof where, "line %d: ", cli_err_line);
  fprintf(stderr, "dfs: %s%s%s%s\n", where, cmd ? cmd : "", cmd ? ": " : "", msg);
  if (c) fprintf(stderr, "usage: dfs %s\n(see `dfs help %s`)\n", c->usage, c->name);
  else cli_print_global_usage(stderr);
  return CLI_USAGE;
}

int cli_take_quiet(int *argc, char **argv) {
  int found = 0, n = 1;
  for (int i = 1; i < *argc; i++) {
    if (strcmp(argv[i], "--") == 0) { /* the rest are positionals, "-q" a file name */
      while (i < *argc) argv[n++] = argv[i++];
      break;
    }
    if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) found = 1;
    else argv[n++] = argv[i];
  }
  *argc = n;
  return found;
}

int cli_mistake(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "dfs: %s\n", msg);
  return CLI_USAGE;
}

int cli_cmd_help(cli_ctx *ctx, int argc, char **argv) {
  (void)ctx;
  if (argc < 2) { cli_print_global_usage(stdout); return CLI_OK; }
  if (argc > 2) return cli_usage_error("help", "too many arguments");
  const cli_command *c = cli_find_command(argv[1]);
  if (!c) {
    const char *near = cli_suggest_command(argv[1]);
    if (near) return cli_mistake("help: unknown command '%s': did you mean '%s'?", argv[1], near);
    return cli_usage_error("help", "unknown command '%s'", argv[1]);
  }
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
  char joined[2 * DFS_PATH_MAX + 4];
  if (ctx->cwd && in[0] != '/' && in[0] != '~') { /* dfs shell: relative to the cwd */
    if (cli_join_cwd(ctx->cwd, in, joined, sizeof joined) != 0) {
      cli_err(cmd, "%s: path too long", in);
      return CLI_FAIL;
    }
    in = joined;
  }
  out[0] = '\0';
  int rc = cli_remote_path(cli_user(ctx), in, out, DFS_PATH_MAX + 1);
  if (rc == 0) return 0;
  if (rc == DFS_EAUTH)
    cli_err(cmd, "%s: '~' is your home directory, but you are not logged in (run 'dfs login')", in);
  else if (rc == DFS_EINVAL)
    cli_err(cmd, "%s: invalid user name after '~'", in);
  else { /* say which rule it broke (the normalised path is in out when it got that far) */
    const char *why = rc == DFS_ETOOBIG ? "path longer than 4096 bytes" : NULL;
    if (!why && out[0] == '/') dfs_path_check(out, &why);
    cli_err(cmd, "%.300s: invalid path: %s", in, why ? why : dfs_strerror(rc));
  }
  return CLI_FAIL;
}
