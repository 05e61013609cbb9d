/* Drafts: forms partly filled, kept on the device (in the encrypted store)
 * until they are recorded; never sent. One note "drafts" holds them all:
 * {"next": N, "drafts": {"d1": {"kind", "case", "saved_ms", "answers": {..}}}}. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "answers-int.h"
#include "homeward/mem.h"

#define NOTE_DRAFTS "drafts"

static json_t *load_all(hw_client *c)
{
  uint8_t *v = NULL;
  size_t len = 0;
  json_t *root = NULL;
  int rc = hw_client_note_get(c, NOTE_DRAFTS, &v, &len);

  if (rc == HW_OK)
    root = json_loadb((const char *)v, len, 0, NULL);
  if (v) {
    hw_memzero(v, len);
    hw_free(v);
  }
  if (rc != HW_OK && rc != HW_ENOENT)
    return NULL;
  if (!json_is_object(root)) {
    json_decref(root);
    root = json_pack("{s:i,s:{}}", "next", 1, "drafts");
  }
  return root;
}

static int save_all(hw_client *c, json_t *root)
{
  char *text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
  int rc;

  if (!text)
    return HW_ENOMEM;
  rc = hw_client_note_set(c, NOTE_DRAFTS, text, strlen(text));
  hw_memzero(text, strlen(text));
  hw_free(text);
  return rc;
}

int hw_cli_draft_save(hw_client *c, const hw_cli_answers *a, char name[16])
{
  json_t *root = load_all(c), *drafts, *d, *answers;
  char hex[HW_ID_HEX_LEN + 1];
  json_int_t next;
  int rc = HW_ENOMEM;

  if (!root)
    return HW_EIO;
  drafts = json_object_get(root, "drafts");
  next = json_integer_value(json_object_get(root, "next"));
  if (!json_is_object(drafts) || next < 1)
    goto out;
  if (name[0] == '\0')
    snprintf(name, 16, "d%u", (unsigned)(next++ % 1000000000));
  if (a->has_case)
    hw_id_to_hex(&a->case_id, hex);
  answers = json_object();
  d = json_pack("{s:s,s:s?,s:I,s:o}", "kind", a->form->kind, "case", a->has_case ? hex : NULL,
                "saved_ms", (json_int_t)time(NULL) * 1000, "answers", answers);
  if (!d)
    goto out;
  for (size_t i = 0; i < a->form->n_fields; i++)
    if (a->text[i])
      json_object_set_new(answers, a->form->fields[i].name, json_string(a->text[i]));
  json_object_set_new(drafts, name, d);
  json_object_set_new(root, "next", json_integer(next));
  rc = save_all(c, root);
out:
  json_decref(root);
  return rc;
}

int hw_cli_draft_load(hw_client *c, const char *name, hw_cli_answers *a)
{
  json_t *root = load_all(c), *d, *answers, *value;
  const hw_form *form;
  const char *kind, *cas, *field;
  int rc = HW_ENOENT;

  if (!root)
    return HW_EIO;
  d = json_object_get(json_object_get(root, "drafts"), name);
  kind = json_string_value(json_object_get(d, "kind"));
  cas = json_string_value(json_object_get(d, "case"));
  if (!kind || !(form = hw_form_find(kind, strlen(kind))))
    goto out;
  hw_cli_answers_init(a, form);
  if (cas && hw_id_from_hex(&a->case_id, cas, strlen(cas)) == HW_OK)
    a->has_case = true;
  answers = json_object_get(d, "answers");
  rc = HW_OK;
  json_object_foreach(answers, field, value)
  {
    const hw_form_field *f = hw_form_field_find(form, field, strlen(field));
    if (f && json_is_string(value) &&
        (rc = hw_cli_answers_set(a, (size_t)(f - form->fields), json_string_value(value))) != 0)
      break;
  }
  if (rc)
    hw_cli_answers_free(a);
out:
  json_decref(root);
  return rc;
}

int hw_cli_draft_delete(hw_client *c, const char *name)
{
  json_t *root = load_all(c);
  int rc;

  if (!root)
    return HW_EIO;
  rc = json_object_del(json_object_get(root, "drafts"), name) == 0 ? save_all(c, root) : HW_ENOENT;
  json_decref(root);
  return rc;
}

int hw_cli_drafts(const hw_cli_opts *o, hw_client *c)
{
  json_t *root = load_all(c), *d;
  const char *name;
  size_t n = 0;

  (void)o;
  if (!root)
    return hw_cli_fail("cannot read the store");
  json_object_foreach(json_object_get(root, "drafts"), name, d)
  {
    const char *cas = json_string_value(json_object_get(d, "case"));
    size_t answers = json_object_size(json_object_get(d, "answers"));
    char at[40];
    hw_cli_when(json_integer_value(json_object_get(d, "saved_ms")), at, sizeof at);
    printf("%-6s %-18s %s%.12s  saved %s, %zu answer%s\n", name,
           json_string_value(json_object_get(d, "kind")), cas ? "case " : "new case",
           !cas ? "" : strlen(cas) == HW_ID_HEX_LEN ? HW_CLI_SHORT(cas) : cas, at, answers,
           answers == 1 ? "" : "s");
    n++;
  }
  if (n == 0)
    printf("no drafts on this device\n");
  else
    printf("(drafts stay on this device until recorded: homeward record --resume NAME)\n");
  json_decref(root);
  return HW_CLI_OK;
}
