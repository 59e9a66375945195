9c696b0baa8fea42app"$spiffe://shop.example/ns/shop/sa/app(2app:
appteam-checkoutBO
web-calls-api 2,($spiffe://shop.example/ns/shop/sa/web:/apip