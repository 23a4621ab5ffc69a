/* SPDX-License-Identifier: MIT */
/*
 * How `shmbrokerctl quota` names users and renders struct shmb_quota, as
 * "key: used of limit" lines or one JSON object, kept apart from the verb
 * table so the human and JSON outputs describe the same fields.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "shmbroker.h"

typedef struct JsonWriter JsonWriter;

/* A user name or a numeric uid; -ENOENT for an unknown name, -EINVAL for junk. */
int quota_user_parse(const char *s, uint32_t *ret);
void quota_show(FILE *f, const struct shmb_quota *q);
void quota_json(JsonWriter *w, const struct shmb_quota *q);
