/* Who signed an S3 request: Signature V4 (sigv4.c) checked with the secret authd holds
 * for the access key, and the key user's session token for talking to metad. Secrets
 * and tokens are cached per key for gw_config.key_cache_ms (3 s): a deleted key or a
 * disabled user stops working within that bound; unknown keys are cached as unknown
 * for the same time, so a flood of made-up keys costs authd one call per key per 3 s.
 *
 * Invariants: (1) the cache holds at most GW_KEY_CACHE_MAX keys (the least recently
 * fetched is dropped); (2) a cached secret is only used to check signatures, never
 * logged or returned; (3) one mutex guards the cache, never held across a network call. */
#ifndef DFS_GATEWAY_S3_AUTH_H
#define DFS_GATEWAY_S3_AUTH_H

#include "gateway/gateway.h"
#include "gateway/request.h"

#define GW_KEY_CACHE_MAX 1024

/* Creates gw->keys. 0 or DFS_ENOMEM. */
int s3_auth_init(gateway *gw);
void s3_auth_free(gateway *gw);

/* Authenticates r: fills r->user, r->is_admin, r->token (and points the connection's
 * metad client at the token), r->auth, r->signing_key, r->payload. Returns 0, or
 * answers r with the S3 error (AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch,
 * RequestTimeTooSkewed, AuthorizationHeaderMalformed, ServiceUnavailable) and returns
 * non-zero. */
int s3_authenticate(gw_req *r);

/* A session token of the user of access key key_id (through the cache, like a request
 * signed with it) into token (tokensz); the gateway's own figures use it (/metrics with
 * metrics.access_key). 0, or DFS_EAUTH (unknown key) / a DFS_E* code for authd. */
int s3_auth_token_of(gw_req *r, const char *key_id, char *token, size_t tokensz);

#endif
