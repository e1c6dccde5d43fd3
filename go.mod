module github.com/goauthenntlm/goauthenntlm

go 1.26.0

require (
	github.com/Azure/go-ntlmssp v0.1.1
	github.com/BurntSushi/toml v1.6.0
	github.com/go-asn1-ber/asn1-ber v1.5.8
	github.com/go-ldap/ldap/v3 v3.4.15
	golang.org/x/crypto v0.54.0
	golang.org/x/sync v0.24.0
)

require github.com/google/uuid v1.6.0 // indirect
