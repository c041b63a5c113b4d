#include "platform/stub/stub_layout.h"

extern "C" const uint8_t moat_stub_image_start[];
extern "C" const uint8_t moat_stub_image_end[];

namespace moat::stub {

const uint8_t* Image() { return moat_stub_image_start; }
size_t ImageSize() { return moat_stub_image_end - moat_stub_image_start; }

}  // namespace moat::stub
