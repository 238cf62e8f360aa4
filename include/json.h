/* Reading JSON. A document is tokenized once, in one pass that also checks it; callers
 * walk it by token index with the helpers below and never see the token type. */
#ifndef MXE_JSON_H
#define MXE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

/* Deeper documents are rejected: MediaMTX's answers nest about six levels. */
#define MXE_JSON_MAX_DEPTH 64

typedef enum {
    MXE_JSON_OBJECT = 1,
    MXE_JSON_ARRAY,
    MXE_JSON_STRING,
    MXE_JSON_NUMBER,
    MXE_JSON_TRUE,
    MXE_JSON_FALSE,
    MXE_JSON_NULL,
    MXE_JSON_INVALID, /* a primitive that is none of the above */
} mxe_json_type;

typedef struct mxe_json {
    const char *text;
    size_t len;
    void *tokens; /* tokens, private to json.c; reused across parses */
    int count;    /* tokens in use */
    int cap;      /* tokens allocated */
} mxe_json;

#define MXE_JSON_INIT                                                                              \
    {                                                                                              \
        NULL, 0, NULL, 0, 0                                                                        \
    }

/* Tokenize text[0..len) (not copied: it must outlive the walk). The root must be an
 * object or array spanning the whole text but for surrounding white space. 0 on
 * success; -1 with a reason in err ("truncated", "invalid JSON at byte 12", ...). */
int mxe_json_parse(mxe_json *j, const char *text, size_t len, char *err, size_t errlen);
/* Free the token array. Accepts NULL. */
void mxe_json_free(mxe_json *j);

mxe_json_type mxe_json_type_of(const mxe_json *j, int t);
/* Direct children: keys of an object, elements of an array. */
int mxe_json_size(const mxe_json *j, int t);
/* Index of the first token after t's subtree (t's next sibling, if any). */
int mxe_json_skip(const mxe_json *j, int t);
/* Raw text of token t (strings without quotes, still escaped). */
const char *mxe_json_raw(const mxe_json *j, int t, size_t *len);
/* Whether string token t equals the literal key exactly (keys we look up have no escapes). */
bool mxe_json_eq(const mxe_json *j, int t, const char *lit);
/* Value of key in object obj, or -1. Linear in the object's size. */
int mxe_json_get(const mxe_json *j, int obj, const char *key);

/* One pass over object obj: vals[i] receives the value index of keys[i], or -1 when the
 * key is absent (the last occurrence wins). -1 when obj is not an object. */
int mxe_json_fields(const mxe_json *j, int obj, const char *const *keys, int nkeys, int *vals);

/* Typed reads: 0 on success, -1 when t has another type or an unrepresentable value. */
int mxe_json_u64(const mxe_json *j, int t, uint64_t *out);  /* exact, 0 … 2^64−1 */
int mxe_json_double(const mxe_json *j, int t, double *out); /* finite */
int mxe_json_bool(const mxe_json *j, int t, bool *out);
/* Unescaped, NUL-terminated copy in the arena (embedded NULs and invalid UTF-8 rejected). */
int mxe_json_str(const mxe_json *j, int t, mxe_arena *a, const char **out);

#endif
