module procdog

go 1.22
