28ad4b32e2f6b4d9web"$spiffe://shop.example/ns/shop/sa/web(2web:
webteam-storefrontB‚
shoppers-via-ingress 2840spiffe://shop.example/ns/edge/sa/ingress-gateway:,/	/shop	/cart/staticB]
admin-from-jump-host 21-)spiffe://shop.example/ns/ops/sa/jump-host:
/adminp