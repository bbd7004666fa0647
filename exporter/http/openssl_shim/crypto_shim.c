/*
 * Stands in for "libcrypto.so", which civetweb dlopen()s next to "libssl.so"
 * (see ssl_shim.c): it has that soname and depends on the real libcrypto.so.3,
 * so no development symlink is needed on the host or in the image.
 */

/* Referenced by the exporter so that --as-needed linking keeps this library. */
__attribute__((visibility("default"))) int diskidle_openssl_crypto_shim(void)
{
	return 1;
}
