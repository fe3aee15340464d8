"""answers: K samples of the policy with and K without the document, and the grounded reference."""
