/* S3 multipart uploads (s3_multipart.c): Create, UploadPart, Complete, Abort, ListParts
 * and ListMultipartUploads. An upload is a directory of the user's in dfs, so it survives
 * a gateway restart and any gateway of the cluster can continue it:
 *   /home/<user>/.s3-uploads/<upload id>/key          empty file; attrs = MultipartUpload
 *                                                     (bucket, key, the object's attrs)
 *   /home/<user>/.s3-uploads/<upload id>/part-NNNNN   one file per part (1..10000);
 *                                                     attrs = ObjectAttrs{etag = MD5}
 * Invariants: (1) an upload id is 32 lower-case hex digits and names a directory of the
 * requesting user only, so another user's id is NoSuchUpload by construction; (2) an
 * upload id belongs to one bucket and key (the key file): used with another, it is
 * NoSuchUpload; (3) Complete makes the object with one metad Compose (the parts' chunks
 * become the object's, no byte is copied) when every part but the last is whole MiB, and
 * otherwise streams the parts into a new upload; either way the object appears
 * atomically and the upload directory is then removed; (4) ".s3-uploads" is not a valid
 * bucket name, so ListBuckets never shows it. */
#ifndef DFS_GATEWAY_S3_MULTIPART_H
#define DFS_GATEWAY_S3_MULTIPART_H

#include "gateway/s3_router.h"

#define S3_MAX_PARTS 10000
#define S3_MIN_PART (5u << 20) /* every part but the last, at Complete (EntityTooSmall) */

void s3_create_multipart(gw_req *r, const s3_target *t);   /* POST key?uploads */
void s3_upload_part(gw_req *r, const s3_target *t);        /* PUT key?partNumber&uploadId */
void s3_complete_multipart(gw_req *r, const s3_target *t); /* POST key?uploadId */
void s3_abort_multipart(gw_req *r, const s3_target *t);    /* DELETE key?uploadId */
void s3_list_parts(gw_req *r, const s3_target *t);         /* GET key?uploadId */
void s3_list_multipart_uploads(gw_req *r, const s3_target *t); /* GET bucket?uploads */

#endif
