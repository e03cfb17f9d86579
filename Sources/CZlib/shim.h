#ifndef CYTOINGEST_CZLIB_SHIM_H
#define CYTOINGEST_CZLIB_SHIM_H
#include <zlib.h>

/// inflateInit2 is a macro in zlib.h; this inline wrapper makes it callable from Swift.
static inline int cytoingest_inflateInit2(z_streamp strm, int windowBits) {
    return inflateInit2(strm, windowBits);
}
/// deflateInit2 likewise.
static inline int cytoingest_deflateInit2(z_streamp strm, int level, int windowBits) {
    return deflateInit2(strm, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
}
#endif
