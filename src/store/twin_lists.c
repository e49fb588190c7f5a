/* twin_lists.c - growable arrays by twin (see the header). */
#include "store/twin_lists.h"

#include <stdlib.h>
#include <string.h>

void ot_twin_lists_init(ot_twin_lists *t, size_t elem)
{
    *t = (ot_twin_lists){.elem = elem};
}

static void drop(ot_twin_lists *t)
{
    for (size_t i = 0; i < t->nall; i++) {
        free(t->all[i]->twin);
        free(t->all[i]->v);
        free(t->all[i]);
    }
    t->nall = 0;
    ot_strmap_clear(&t->by_twin, NULL);
}

void ot_twin_lists_free(ot_twin_lists *t)
{
    drop(t);
    free(t->all);
    t->all = NULL;
    t->cap = 0;
}

static ot_twin_list *list_of(ot_twin_lists *t, const char *twin)
{
    ot_twin_list *l = ot_strmap_get(&t->by_twin, twin);
    if (l)
        return l;
    if (t->nall == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        ot_twin_list **v = realloc(t->all, cap * sizeof *v);
        if (!v)
            return NULL;
        t->all = v;
        t->cap = cap;
    }
    if (!(l = calloc(1, sizeof *l)) || !(l->twin = strdup(twin)) ||
        ot_strmap_put(&t->by_twin, twin, l, NULL)) {
        if (l)
            free(l->twin);
        free(l);
        return NULL;
    }
    l->in_order = 1;
    t->all[t->nall++] = l;
    return l;
}

void *ot_twin_lists_push(ot_twin_lists *t, const char *twin, ot_twin_list **list)
{
    ot_twin_list *l = list_of(t, twin);
    if (!l)
        return NULL;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        void *v = realloc(l->v, cap * t->elem);
        if (!v)
            return NULL;
        l->v = v;
        l->cap = cap;
    }
    if (list)
        *list = l;
    return (char *)l->v + l->n++ * t->elem;
}

void ot_twin_lists_empty(ot_twin_lists *t)
{
    if (t->nall > OT_TWIN_LISTS_KEEP)
        drop(t);
    for (size_t i = 0; i < t->nall; i++) {
        t->all[i]->n = 0;
        t->all[i]->in_order = 1;
    }
}

static int by_twin(const void *a, const void *b)
{
    return strcmp((*(ot_twin_list *const *)a)->twin, (*(ot_twin_list *const *)b)->twin);
}

void ot_twin_lists_sort(ot_twin_lists *t)
{
    if (t->nall)
        qsort(t->all, t->nall, sizeof *t->all, by_twin);
}
