/* The CLI's login session: who is logged in and the token authd gave them. Stored in
 * $XDG_CONFIG_HOME/dfs/session (default ~/.config/dfs/session), directory 0700, file
 * 0600, written atomically (temp file + rename) as three "key value" lines:
 *   user alice / token 9f2c... / expires_ms 1795000000000
 * $DFS_TOKEN (with $DFS_USER) overrides the file. No network here: unit tested. */
#ifndef DFS_CLI_SESSION_H
#define DFS_CLI_SESSION_H

#include <stddef.h>
#include <stdint.h>

#define CLI_USER_MAX 32
#define CLI_TOKEN_MAX 255

typedef struct {
  char user[CLI_USER_MAX + 1];   /* "" if unknown ($DFS_TOKEN without $DFS_USER) */
  char token[CLI_TOKEN_MAX + 1]; /* "" = not logged in */
  int64_t expires_ms;            /* wall clock; 0 = unknown */
  int from_env;                  /* 1: came from $DFS_TOKEN */
} cli_session;

/* 1 if name is a valid dfs user name: 1..32 of [a-z0-9_-], starting with a letter
 * (the rule authd enforces). len: bytes of name to check. */
int cli_user_name_valid(const char *name, size_t len);

/* Session file path from $XDG_CONFIG_HOME / $HOME (either may be NULL). 0, DFS_ENOENT
 * if neither is set, DFS_ETOOBIG. */
int cli_session_path(const char *xdg, const char *home, char *out, size_t outsz);

/* Reads the session file into *s. 0; DFS_ENOENT if there is none; DFS_ECONFIG with a
 * reason in err if it is malformed. */
int cli_session_read(const char *path, cli_session *s, char *err, size_t errsz);

/* Writes *s to path atomically with mode 0600, creating the missing parent directory
 * with mode 0700. 0 or a DFS_E* code with a reason in err. */
int cli_session_write(const char *path, const cli_session *s, char *err, size_t errsz);

/* Removes the session file. 0 (also if there was none) or DFS_EIO. */
int cli_session_remove(const char *path);

/* The session to use: env_token ($DFS_TOKEN) if non-empty (user from env_user if that is
 * a valid name), else the file at path (may be NULL). *s is zeroed first; not logged in
 * is 0 with s->token empty. DFS_ECONFIG (reason in err) for a malformed file or env. */
int cli_session_load(const char *env_token, const char *env_user, const char *path,
                     cli_session *s, char *err, size_t errsz);

#endif
