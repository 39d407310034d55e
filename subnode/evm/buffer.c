/*
 * buffer.c - the growable byte buffers behind EVM memory, return data, code copies and
 * precompile outputs. They grow by doubling and are kept between messages, so a warm VM
 * does not allocate.
 */
#include "subnode/evm/evm_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

bool evm_buffer_reserve(struct evm_buffer *buffer, size_t capacity)
{
    assert(buffer != NULL);
    assert(buffer->size <= buffer->capacity);
    if (capacity <= buffer->capacity) return true;
    size_t grown = buffer->capacity < 256 ? 256 : buffer->capacity;
    while (grown < capacity) {
        if (grown > SIZE_MAX / 2) return false;
        grown *= 2;
    }
    uint8_t *data = realloc(buffer->data, grown);
    if (data == NULL) return false;
    buffer->data = data;
    buffer->capacity = grown;
    return true;
}

bool evm_buffer_assign(struct evm_buffer *buffer, const uint8_t *data, size_t size)
{
    assert(data != NULL || size == 0);
    if (!evm_buffer_reserve(buffer, size)) return false;
    if (size != 0) memmove(buffer->data, data, size);
    buffer->size = size;
    return true;
}

void evm_buffer_free(struct evm_buffer *buffer)
{
    assert(buffer != NULL);
    free(buffer->data);
    *buffer = (struct evm_buffer){0};
}
