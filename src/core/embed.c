/* embed.c - see embed.h. */
#include "core/embed.h"

#include <string.h>

const struct ot_embedded_file *ot_embed_find(const char *path)
{
    for (const struct ot_embedded_file *f = ot_embedded; f->path; f++)
        if (strcmp(f->path, path) == 0)
            return f;
    return NULL;
}
