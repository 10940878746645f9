/* What the CLI says when a command name is wrong: the closest real command for a typo
 * ("lss" -> "ls") and the dfs command for an `hdfs dfs` habit ("-ls", "-copyFromLocal",
 * "-touchz"). Pure functions over the command table (commands.c); main.c and the shell
 * turn them into one line each. */
#ifndef DFS_CLI_SUGGEST_H
#define DFS_CLI_SUGGEST_H

#include <stddef.h>

/* The command whose name is closest to word (edit distance with transpositions, at most
 * 1 for names of up to 4 letters, else 2; or word is a unique prefix of it), or NULL.
 * Pointer into the static command table. */
const char *cli_suggest_command(const char *word);

/* The dfs command for an hdfs-style "-NAME" flag used as a command ("-ls" -> "ls",
 * "-copyToLocal" -> "get"), or NULL. Static string. */
const char *cli_hdfs_command(const char *flag);

/* Damerau-Levenshtein (optimal string alignment) distance, capped at cap+1; for tests. */
size_t cli_edit_distance(const char *a, const char *b, size_t cap);

#endif
