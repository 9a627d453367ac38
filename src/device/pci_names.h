/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Vendor and device names from the PCI ID database through libpci. Call before
 * any device changes state: libpci's error callback does not return. */
#ifndef VFIOMIG_PCI_NAMES_H
#define VFIOMIG_PCI_NAMES_H

#include <stddef.h>
#include <stdint.h>

/* Empty strings when libpci or the database does not know the ids. */
void pci_names_lookup(uint16_t vendor, uint16_t device, char *vendor_name, size_t vendor_size,
		      char *device_name, size_t device_size);
void pci_names_release(void);

#endif
