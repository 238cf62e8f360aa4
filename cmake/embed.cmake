# Turn a text file into a C array: cmake -DIN=<file> -DOUT=<file.c> -DNAME=<symbol>
#   -DHEADER=<header> [-DMXE_VERSION=…] [-DMXE_REVISION=…] -P embed.cmake
# @MXE_VERSION@ and @MXE_REVISION@ in the input are replaced first. The array ends with a
# NUL that NAME_len does not count.
cmake_minimum_required(VERSION 3.25) # new policies: @VAR@ is literal in quoted arguments
foreach(v IN ITEMS IN OUT NAME HEADER)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "embed.cmake: -D${v}= is required")
  endif()
endforeach()
file(READ "${IN}" text)
string(REPLACE "@MXE_VERSION@" "${MXE_VERSION}" text "${text}")
string(REPLACE "@MXE_REVISION@" "${MXE_REVISION}" text "${text}")
file(WRITE "${OUT}.txt" "${text}")
file(READ "${OUT}.txt" hex HEX)
file(REMOVE "${OUT}.txt")
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REPEAT "0x..," 16 row)
string(REGEX REPLACE "(${row})" "\\1\n    " bytes "${bytes}")
get_filename_component(src "${IN}" NAME)
file(WRITE "${OUT}.tmp"
  "/* Generated from ${src} by cmake/embed.cmake: do not edit. */\n"
  "#include \"${HEADER}\"\n\n"
  "const unsigned char ${NAME}[] = {\n    ${bytes}0x00};\n"
  "const size_t ${NAME}_len = ${len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
