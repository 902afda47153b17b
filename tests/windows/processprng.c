/*
 * Test-only stand-in for bcryptprimitives.dll, for running rdpsweep.exe under wine 8.0.
 *
 * Rust's std on x86_64-pc-windows-gnu imports ProcessPrng from bcryptprimitives.dll (Windows 10+
 * and Windows 7 with updates provide it). Wine 8.0 has no such DLL, so the loader refuses the
 * program and it exits at once with status 53 printing nothing. This DLL, placed next to the .exe
 * (the application directory is searched first), exports ProcessPrng and fills the buffer with
 * RtlGenRandom (advapi32!SystemFunction036), which wine implements from the host's random source.
 *
 * It is never shipped: a real Windows machine has its own bcryptprimitives.dll.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -s -o bcryptprimitives.dll processprng.c \
 *        processprng.def -ladvapi32
 */
#include <windows.h>

/* advapi32!SystemFunction036, a.k.a. RtlGenRandom. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* BOOL ProcessPrng(PBYTE pbData, SIZE_T cbData): always succeeds on Windows. */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000u ? 0x40000000u : (ULONG)len;
        if (!SystemFunction036(data, chunk)) {
            /* Windows documents ProcessPrng as infallible; a failure here means the test
             * environment is broken, so stop loudly rather than hand out zeros. */
            ExitProcess(0xBADC0DE);
        }
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
