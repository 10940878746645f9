/* Constants shared by fuzz_authd.c and the seed generator (gen_corpus.c). */
#ifndef DFS_FZ_AUTHD_H
#define DFS_FZ_AUTHD_H

#include "auth.pb-c.h"

#define FZ_AUTHD_SERVICE_SECRET "fuzz-service-secret"
#define FZ_AUTHD_ADMIN "admin"
#define FZ_AUTHD_ADMIN_PW "fuzz-admin-pw"
/* In a payload, this 64-byte run is replaced by the token of the last successful login
 * in the same input (tokens are random, so the fuzzer cannot know them). */
#define FZ_TOKEN_PLACEHOLDER "tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt"
#define FZ_MAX_LOGINS 3 /* per input: more would hit the (deliberate) login slow-down */

/* sel % n picks the message type. */
static const uint16_t fz_authd_types[] = {
    DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_REGISTER, DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_LOGIN,
    DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_LOGOUT,   DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_WHOAMI,
    DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_PASSWD,   DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_USERS,
    DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_SET_USER, DFS__MSG_TYPE__MSG_META_TO_AUTH_VALIDATE,
    DFS__MSG_TYPE__MSG_AUTH_TO_CLIENT_LOGIN,    999,
    /* appended (the seeds' earlier selectors keep their meaning) */
    DFS__MSG_TYPE__MSG_CLIENT_TO_AUTH_KEYS,     DFS__MSG_TYPE__MSG_GATEWAY_TO_AUTH_ACCESS_KEY,
};
enum { FZ_A_REGISTER, FZ_A_LOGIN, FZ_A_LOGOUT, FZ_A_WHOAMI, FZ_A_PASSWD, FZ_A_USERS,
       FZ_A_SET_USER, FZ_A_VALIDATE, FZ_A_REPLY_TYPE, FZ_A_UNKNOWN, FZ_A_KEYS,
       FZ_A_ACCESS_KEY };

#endif
