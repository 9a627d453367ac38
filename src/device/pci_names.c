/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libpci name lookups, done lazily and once per process. */
#include <string.h>

#include "pci_names.h"

#ifdef HAVE_LIBPCI
#include <pci/pci.h>

static struct pci_access *pacc;

void pci_names_lookup(uint16_t vendor, uint16_t device, char *vendor_name, size_t vendor_size,
		      char *device_name, size_t device_size)
{
	char buf[256];
	const char *name;

	vendor_name[0] = device_name[0] = '\0';
	if (!pacc) {
		pacc = pci_alloc();
		if (!pacc)
			return;
		/* Names only: no bus scan, so no access method is initialised. */
		pacc->numeric_ids = 0;
	}
	name = pci_lookup_name(pacc, buf, sizeof(buf), PCI_LOOKUP_VENDOR | PCI_LOOKUP_NO_NUMBERS,
			       vendor);
	if (name && strlen(name) < vendor_size)
		strcpy(vendor_name, name);
	name = pci_lookup_name(pacc, buf, sizeof(buf), PCI_LOOKUP_DEVICE | PCI_LOOKUP_NO_NUMBERS,
			       vendor, device);
	if (name && strlen(name) < device_size)
		strcpy(device_name, name);
}

void pci_names_release(void)
{
	if (pacc)
		pci_cleanup(pacc);
	pacc = NULL;
}

#else

void pci_names_lookup(uint16_t vendor, uint16_t device, char *vendor_name, size_t vendor_size,
		      char *device_name, size_t device_size)
{
	(void)vendor; (void)device; (void)vendor_size; (void)device_size;
	vendor_name[0] = device_name[0] = '\0';
}

void pci_names_release(void)
{
}

#endif
