/* user_space: a user's home directory, made before their first request, and the Quota
 * request (handlers.h). The requests waiting for a home live in md->homes_waiting. */
#ifndef METAD_USER_SPACE_H
#define METAD_USER_SPACE_H

#include "common/conn.h"
#include "metad/auth.h"
#include "metad/metad.h"

/* 0 if u's request m can run now. 1 if it was answered or taken (*m cleared): u is a
 * named user without /home/<u> on the ready leader, so OP_MKHOME goes first and
 * run(md, c, m, u) runs once it is applied. */
int user_space_hold_for_home(metad *md, dfs_conn *c, dfs_msg *m, const md_user *u,
                             auth_run_cb run);

#endif
