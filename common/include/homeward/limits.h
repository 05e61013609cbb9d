/* Homeward record limits (named, enforced before allocation, each tested at
 * max and max + 1). Wire limits live in proto/include/homeward/proto/limits.h. */
#ifndef HOMEWARD_LIMITS_H
#define HOMEWARD_LIMITS_H

#define HW_KIND_MAX 32       /* bytes in a record kind name */
#define HW_FIELD_NAME_MAX 64 /* bytes in a field name */
#define HW_AUTHOR_MAX 64     /* bytes in an author (user) name */
#define HW_VALUE_MAX 16384   /* bytes in one encoded field value */
#define HW_FIELDS_MAX 256    /* fields in one record state */
#define HW_PAIRS_MAX 128     /* (dot, value) pairs in one field */
#define HW_WRITES_MAX 512    /* distinct writes still visible in one state */
#define HW_VV_MAX                                                                                  \
  256                            /* entries in one version vector: every replica id that           \
                                    ever wrote the record, new ids after restores included */
#define HW_VALUE_DEPTH_MAX 8     /* nesting of arrays, maps and tags in one value */
#define HW_REASON_MAX 1024       /* bytes in a void reason */
#define HW_RECORD_MAX (1u << 20) /* bytes in one encoded record state */

#endif
