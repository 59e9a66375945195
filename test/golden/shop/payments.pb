19ff3c3d5e2544aepayments"-spiffe://shop.example/ns/payments/sa/payments(2payments:
paymentsteam-paymentsB
charge-with-mfa 2,($spiffe://shop.example/ns/shop/sa/app:/payments/chargeB	compliantBmfaBU

sre-health 21-)spiffe://shop.example/ns/ops/sa/jump-host:/healthzZamrZdevice_posture`p