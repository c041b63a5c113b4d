// Embeds the linked stub binary (path in STUB_PATH) into runsc.
        .section .rodata, "a"
        .globl moat_stub_image_start
        .globl moat_stub_image_end
        .balign 16
moat_stub_image_start:
        .incbin STUB_PATH
moat_stub_image_end:
        .section .note.GNU-stack, "", @progbits
