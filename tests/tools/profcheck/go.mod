module profcheck

go 1.21
