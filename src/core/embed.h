/* embed.h - files compiled into the binary (schemas/, docs/).
 *
 * The table is generated at build time by scripts/embed.sh from the files
 * listed in the Makefile's EMBED variable. Data is static and read-only;
 * every entry is NUL-terminated, so text files can be used as C strings.
 */
#ifndef OT_CORE_EMBED_H
#define OT_CORE_EMBED_H

#include <stddef.h>

struct ot_embedded_file {
    const char *path; /* as in the source tree: "schemas/telemetry.v1.json" */
    const char *data;
    size_t len;
};

/* Terminated by an entry whose path is NULL. */
extern const struct ot_embedded_file ot_embedded[];

/* Look up a file by its source path; NULL when absent. */
const struct ot_embedded_file *ot_embed_find(const char *path);

#endif
