module procdog

go 1.23
