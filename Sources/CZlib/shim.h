// zlib, for reading gzip-compressed IDX datasets.
#pragma once
#include <zlib.h>
