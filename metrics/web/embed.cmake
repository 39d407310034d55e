# Turns a file into a C array: cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake.
# The web page is compiled into cohort-core, so the binary serves it with nothing beside it.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# About 16 bytes a line, so the generated file stays readable in a diff viewer.
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}" "/* Generated from ${IN} by embed.cmake: do not edit. */\n"
                    "#include \"metrics/metrics.h\"\n"
                    "const char ${NAME}[] = {\n${bytes}0x00};\n")
