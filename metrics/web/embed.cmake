# Turns a file into a C array: cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake.
# The web page is compiled into cohort-core, so the binary serves it with nothing beside it.
# One line of the C array per line of the file, so the generated source stays readable.
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "(char)0x\\1," bytes "${hex}")
string(REPLACE "(char)0x0a," "(char)0x0a,\n" bytes "${bytes}")
file(WRITE "${OUT}" "/* Generated from ${IN} by embed.cmake: do not edit. */\n"
                    "#include \"metrics/metrics.h\"\n"
                    "const char ${NAME}[] = {\n${bytes}0x00};\n")
