"""Who talks to the customer: "you break it, you own it", and the tasks to tell them."""
