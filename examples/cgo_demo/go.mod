module cgodemo

go 1.21
