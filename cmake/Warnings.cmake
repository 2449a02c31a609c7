# One INTERFACE target carries the warning flags; every erds target links it.
add_library(erds_warnings INTERFACE)
add_library(erds::warnings ALIAS erds_warnings)
target_compile_options(erds_warnings INTERFACE -Wall -Wextra -Wpedantic
  $<$<BOOL:${ERDS_WERROR}>:-Werror>)
# Reproducible builds: no absolute source paths in binaries.
target_compile_options(erds_warnings INTERFACE "-ffile-prefix-map=${CMAKE_SOURCE_DIR}=.")
if(ERDS_SANITIZE)
  target_compile_options(erds_warnings INTERFACE -fsanitize=address,undefined
    -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(erds_warnings INTERFACE -fsanitize=address,undefined)
  # GCC's flow analysis reports uninitialised reads inside instrumented std::function/std::regex
  # code that are not there; the uninstrumented builds keep the warning.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(erds_warnings INTERFACE -Wno-maybe-uninitialized)
  endif()
endif()
# g++ 12 at -O2/-O3 reports impossible std::string memcpy overlaps (GCC bug 105329) from inlined
# library code; the warning is off for that compiler only so -Werror stays meaningful.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(erds_warnings INTERFACE -Wno-restrict)
endif()
