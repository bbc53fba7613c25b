/* api.c -- the public calls of include/goprof.h.
 * Context: program (any thread, also a signal handler)
 */
#include "goprof.h"

#include "lib/base/sigsafe.h"
#include "program/sample/sample.h"

GP_EXPORT const char *goprof_version(void)
{
    return PACKAGE_VERSION;
}

GP_EXPORT int goprof_active(void)
{
    return sample_enabled();
}
