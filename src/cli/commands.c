/* The dfs command table and help output (see commands.h). */
#include "cli/commands.h"

#include <stdarg.h>
#include <string.h>

#include "cli/output.h"

static const cli_command commands[] = {
    {"put", "put LOCAL [REMOTE] [--replicas N] [--no-clobber] [--parallel K]",
     "upload a local file",
     "Uploads LOCAL (any size, streamed in 1 MiB chunks). REMOTE defaults to /NAME; an\n"
     "existing directory or a path ending in '/' receives REMOTE/NAME. An existing file is\n"
     "replaced atomically unless --no-clobber. --replicas N copies (default 2), --parallel K\n"
     "chunks in flight (default 4).\n"
     "example: dfs put ./photo.jpg /home/ann/",
     cli_cmd_put},
    {"get", "get REMOTE [LOCAL] [--parallel K]", "download a file",
     "Downloads REMOTE to LOCAL (default ./NAME; an existing directory receives DIR/NAME;\n"
     "'-' writes to stdout). Every chunk's CRC32C is verified; a bad replica is skipped\n"
     "and reported. The file appears only when complete (written to a temporary name).\n"
     "example: dfs get /home/ann/photo.jpg /tmp/",
     cli_cmd_get},
    {"ls", "ls [-l] [-h] [PATH]", "list a directory",
     "Lists PATH (default /), one name a line, directories with a trailing '/'. -l: mode,\n"
     "owner, size in bytes (number of entries for directories), replicas, mtime, name;\n"
     "-h: human sizes with -l. A file argument shows that file.\n"
     "example: dfs ls -l /home/ann",
     cli_cmd_ls},
    {"stat", "stat PATH", "show a file or directory",
     "Prints type, size, mode, owner, mtime, replicas and chunks of PATH.\n"
     "example: dfs stat /home/ann/photo.jpg",
     cli_cmd_stat},
    {"mkdir", "mkdir [-p] PATH", "make a directory",
     "Makes the directory PATH; -p makes missing parents and accepts an existing one.\n"
     "example: dfs mkdir -p /data/2026/11",
     cli_cmd_mkdir},
    {"rm", "rm [-r] PATH", "remove a file or directory",
     "Removes the file PATH, or an empty directory; -r removes a directory and\n"
     "everything in it.\n"
     "example: dfs rm -r /tmp/old",
     cli_cmd_rm},
    {"admin", "admin status [--wait N] [--timeout SECONDS]", "cluster status",
     "status: one line per chunkserver (id, address, alive/dead, free/capacity, chunks,\n"
     "load, last heartbeat) and totals. --wait N: wait (polling every 100 ms) until at\n"
     "least N chunkservers are alive; exit 1 after --timeout seconds (default 30).\n"
     "example: dfs admin status --wait 3 --timeout 10",
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
          "usage: dfs [--meta HOST:PORT] [-q|--quiet] [--help] COMMAND [ARGS]\n"
          "\n"
          "metad address: --meta, else $DFS_META, else `meta:` in\n"
          "$XDG_CONFIG_HOME/dfs/dfs.yaml (~/.config/dfs/dfs.yaml), else 127.0.0.1:9400.\n"
          "\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-7s %s\n", commands[i].name, commands[i].summary);
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
