; tools/boot/boot.asm - the stack's test guest: one 512-byte MBR boot sector.
;
; SeaBIOS loads it at 0000:7C00 from the first disk (the RBD clone). It writes
;   NOVA-RBD-BOOT-OK          proof that the guest booted from the disk,
;   <text at LBA 2048>        a line the image builder put 1 MiB into the disk, read
;                             with INT 13h extensions: proof that reads reach the data
;                             behind the copy-on-write clone,
; to the first serial port and halts. Build: nasm -f bin -o boot.bin boot.asm

bits 16
org 0x7c00

COM1        equ 0x3f8
DATA_LBA    equ 2048
BUFFER      equ 0x0600          ; free low memory, below the boot sector

entry:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    sti
    mov [boot_drive], dl        ; the BIOS hands over the boot drive in DL

    ; 115200 8N1: set the divisor latch (1), then the line format.
    mov dx, COM1 + 3
    mov al, 0x80
    out dx, al
    mov dx, COM1
    mov al, 1
    out dx, al
    mov dx, COM1 + 1
    xor al, al
    out dx, al
    mov dx, COM1 + 3
    mov al, 0x03
    out dx, al

    mov si, banner
    call serial_print

    mov si, packet              ; extended read: DS:SI -> disk address packet
    mov dl, [boot_drive]
    mov ah, 0x42
    int 0x13
    jc .failed
    mov byte [BUFFER + 511], 0  ; never print past the sector
    mov si, BUFFER
    call serial_print
    jmp .stop
.failed:
    mov si, read_failed
    call serial_print
.stop:
    mov si, done
    call serial_print
.halt:
    cli
    hlt
    jmp .halt

; Send the NUL-terminated string at DS:SI, waiting for the transmitter each time.
serial_print:
    lodsb
    or al, al
    jz .ret
    mov bl, al
    mov dx, COM1 + 5            ; line status register
.busy:
    in al, dx
    and al, 0x20
    jz .busy
    mov dx, COM1
    mov al, bl
    out dx, al
    jmp serial_print
.ret:
    ret

boot_drive:  db 0
packet:      db 16, 0           ; size, reserved
             dw 1               ; sectors
             dw BUFFER, 0       ; offset, segment
             dq DATA_LBA
banner:      db "NOVA-RBD-BOOT-OK", 13, 10, 0
read_failed: db "NOVA-RBD-READ-FAILED", 13, 10, 0
done:        db "NOVA-RBD-HALT", 13, 10, 0

; One partition from LBA 2048 to the end of the 8 MiB disk: a boot sector without a
; partition table is no valid disk image, and Glance refuses it ("Image failed safety
; checks") when it inspects an upload.
    times 446 - ($ - $$) db 0
partition1:  db 0x80                    ; active
             db 0xfe, 0xff, 0xff        ; start CHS: use LBA
             db 0x83                    ; type: Linux
             db 0xfe, 0xff, 0xff        ; end CHS: use LBA
             dd DATA_LBA                ; first sector
             dd 16384 - DATA_LBA        ; sectors (8 MiB disk)
    times 510 - ($ - $$) db 0
    dw 0xaa55
