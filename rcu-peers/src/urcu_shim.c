/*
 * Thin wrappers around liburcu's memb flavor (Debian liburcu-dev 0.13).
 *
 * _LGPL_SOURCE makes rcu_read_lock/unlock the header's inline fast paths, as a C program
 * linking liburcu would use them; the Rust side calls these wrappers through FFI.
 */
#define _LGPL_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <urcu/urcu-memb.h>

void peers_urcu_register_thread(void) { urcu_memb_register_thread(); }

void peers_urcu_unregister_thread(void) { urcu_memb_unregister_thread(); }

void peers_urcu_read_lock(void) { urcu_memb_read_lock(); }

void peers_urcu_read_unlock(void) { urcu_memb_read_unlock(); }

int peers_urcu_read_ongoing(void) { return urcu_memb_read_ongoing(); }

void peers_urcu_synchronize(void) { urcu_memb_synchronize_rcu(); }

void peers_urcu_call(struct rcu_head *head, void (*func)(struct rcu_head *head))
{
	urcu_memb_call_rcu(head, func);
}

void peers_urcu_barrier(void) { urcu_memb_barrier(); }

int peers_urcu_has_sys_membarrier(void) { return urcu_memb_has_sys_membarrier; }

size_t peers_urcu_head_size(void) { return sizeof(struct rcu_head); }

/* n lock/unlock pairs with the inline fast path: the read-side cost a C caller pays. */
void peers_urcu_read_loop(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		urcu_memb_read_lock();
		urcu_memb_read_unlock();
	}
}

/* A reader that enters and leaves read-side sections until *stop is set; returns how many. */
uint64_t peers_urcu_spin_reader(const int *stop)
{
	uint64_t n = 0;

	while (!__atomic_load_n(stop, __ATOMIC_RELAXED)) {
		urcu_memb_read_lock();
		urcu_memb_read_unlock();
		n++;
	}
	return n;
}
