module benchdriver

go 1.21
