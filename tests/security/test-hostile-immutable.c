/* SPDX-License-Identifier: MIT */
#include "hostile.h"
HARNESS_MAIN(NULL)
