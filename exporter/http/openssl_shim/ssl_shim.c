/*
 * Stands in for "libssl.so" when civetweb loads OpenSSL at run time.
 *
 * Debian 12's civetweb 1.15 is built against the OpenSSL 1.1 API and
 * dlopen()s the unversioned "libssl.so", then resolves every function by name.
 * OpenSSL 3 renamed SSL_get_peer_certificate to SSL_get1_peer_certificate (the
 * old name is only a macro now), so civetweb gets NULL for it and crashes on
 * the first TLS connection. This library has the soname "libssl.so": the
 * exporter links it, so civetweb's dlopen() finds it already loaded, and
 * every other symbol resolves through its dependency on the real libssl.so.3.
 * Both names return a new reference to the peer certificate, which civetweb
 * frees, so the forwarding is exact.
 */
struct ssl_st;
struct x509_st;

struct x509_st *SSL_get1_peer_certificate(const struct ssl_st *ssl);

__attribute__((visibility("default"))) struct x509_st *SSL_get_peer_certificate(
	const struct ssl_st *ssl)
{
	return SSL_get1_peer_certificate(ssl);
}

/* Referenced by the exporter so that --as-needed linking keeps this library. */
__attribute__((visibility("default"))) int diskidle_openssl_ssl_shim(void)
{
	return 1;
}
