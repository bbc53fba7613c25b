/* api.c -- the public calls of include/goprof.h.
 * Context: any
 */
#include "goprof.h"

#include "base/sigsafe.h"
#include "sample/sample.h"

GP_EXPORT const char *goprof_version(void)
{
    return PACKAGE_VERSION;
}

GP_EXPORT int goprof_active(void)
{
    return sample_enabled();
}
