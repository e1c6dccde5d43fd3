module github.com/goauthenntlm/goauthenntlm

go 1.26
