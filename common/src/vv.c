#include "homeward/vv.h"

#include "homeward/limits.h"

int hw_dot_cmp(const hw_dot *a, const hw_dot *b)
{
  int c = hw_id_cmp(&a->replica, &b->replica);
  if (c)
    return c;
  return a->counter < b->counter ? -1 : a->counter > b->counter;
}

uint64_t hw_vv_get(const hw_vv *vv, const hw_id *replica)
{
  size_t lo = 0, hi = vv->n;

  /* Vectors are short (one to three writers normally): binary search keeps
   * the worst case bounded too. */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = hw_id_cmp(&vv->e[mid].replica, replica);
    if (c == 0)
      return vv->e[mid].counter;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return 0;
}

bool hw_vv_seen(const hw_vv *vv, const hw_dot *d)
{
  return hw_vv_get(vv, &d->replica) >= d->counter;
}

hw_order hw_vv_compare(const hw_vv *a, const hw_vv *b)
{
  size_t i = 0, j = 0;
  bool a_more = false, b_more = false;

  while (i < a->n || j < b->n) {
    int c = i == a->n ? 1 : j == b->n ? -1 : hw_id_cmp(&a->e[i].replica, &b->e[j].replica);
    if (c < 0) {
      a_more = true;
      i++;
    } else if (c > 0) {
      b_more = true;
      j++;
    } else {
      if (a->e[i].counter > b->e[j].counter)
        a_more = true;
      else if (a->e[i].counter < b->e[j].counter)
        b_more = true;
      i++;
      j++;
    }
  }
  if (a_more && b_more)
    return HW_ORDER_CONCURRENT;
  if (a_more)
    return HW_ORDER_AFTER;
  if (b_more)
    return HW_ORDER_BEFORE;
  return HW_ORDER_EQUAL;
}

bool hw_vv_covers(const hw_vv *a, const hw_vv *b)
{
  hw_order o = hw_vv_compare(a, b);
  return o == HW_ORDER_EQUAL || o == HW_ORDER_AFTER;
}

size_t hw_vv_join(const hw_vv *a, const hw_vv *b, hw_dot *out)
{
  size_t i = 0, j = 0, k = 0;

  while (i < a->n || j < b->n) {
    int c = i == a->n ? 1 : j == b->n ? -1 : hw_id_cmp(&a->e[i].replica, &b->e[j].replica);
    if (c < 0) {
      out[k++] = a->e[i++];
    } else if (c > 0) {
      out[k++] = b->e[j++];
    } else {
      out[k] = a->e[i].counter >= b->e[j].counter ? a->e[i] : b->e[j];
      k++, i++, j++;
    }
  }
  return k;
}

int hw_vv_check(const hw_vv *vv)
{
  if (vv->n > HW_VV_MAX)
    return HW_ELIMIT;
  for (size_t i = 0; i < vv->n; i++) {
    if (vv->e[i].counter == 0)
      return HW_EPROTO;
    if (i > 0 && hw_id_cmp(&vv->e[i - 1].replica, &vv->e[i].replica) >= 0)
      return HW_EPROTO;
  }
  return HW_OK;
}
