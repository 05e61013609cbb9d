/* A growing list of ids (client-int.h). */
#include "client-int.h"
#include "homeward/mem.h"

int hw__id_list_add(hw__id_list *l, const hw_id *id)
{
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 64;
    hw_id *p = hw_realloc(l->v, cap * sizeof *p);
    if (!p)
      return HW_ENOMEM;
    l->v = p;
    l->cap = cap;
  }
  l->v[l->n++] = *id;
  return HW_OK;
}

int hw__id_list_add_unique(hw__id_list *l, const hw_id *id)
{
  for (size_t i = 0; i < l->n; i++)
    if (hw_id_cmp(&l->v[i], id) == 0)
      return HW_OK;
  return hw__id_list_add(l, id);
}
