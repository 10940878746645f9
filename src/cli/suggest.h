/* What the CLI says when a command name is wrong: the closest real command for a typo
 * ("lss" -> "ls") and the dfs command for an `hdfs dfs` habit ("-ls", "-copyFromLocal",
 * "-touchz"). Pure functions over a list of command names: commands.c passes its table's
 * (cli_suggest_command, cli_hdfs_command in commands.h); main.c and the shell turn the
 * answers into one line each. */
#ifndef DFS_CLI_SUGGEST_H
#define DFS_CLI_SUGGEST_H

#include <stddef.h>

/* The name of names[0..n) closest to word (edit distance with transpositions, at most 1
 * for names of up to 4 letters, else 2; or word is a unique prefix of it), or NULL. */
const char *cli_suggest_name(const char *word, const char *const *names, size_t n);

/* The name among names[0..n) for an hdfs-style "-NAME" flag used as a command ("-ls" ->
 * "ls", "-copyToLocal" -> "put"'s "get"), or NULL. */
const char *cli_hdfs_name(const char *flag, const char *const *names, size_t n);

/* Damerau-Levenshtein (optimal string alignment) distance, capped at cap+1; for tests. */
size_t cli_edit_distance(const char *a, const char *b, size_t cap);

#endif
